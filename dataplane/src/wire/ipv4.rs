//! TODO(skeleton): ipv4
