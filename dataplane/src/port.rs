//! TODO(skeleton): port
