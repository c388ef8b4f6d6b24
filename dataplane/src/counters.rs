//! TODO(skeleton): counters
