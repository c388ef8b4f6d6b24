//! TODO(skeleton): icmp
