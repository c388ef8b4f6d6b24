//! TODO(skeleton): node
