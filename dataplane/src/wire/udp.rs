//! TODO(skeleton): udp
