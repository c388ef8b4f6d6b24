//! TODO(skeleton): spsc
