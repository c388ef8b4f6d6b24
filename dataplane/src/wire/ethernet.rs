//! TODO(skeleton): ethernet
