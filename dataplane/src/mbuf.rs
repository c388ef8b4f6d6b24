//! TODO(skeleton): mbuf
