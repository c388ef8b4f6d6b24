//! TODO(skeleton): segment
