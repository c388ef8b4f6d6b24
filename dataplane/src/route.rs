//! TODO(skeleton): route
