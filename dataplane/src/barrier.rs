//! TODO(skeleton): barrier
