//! TODO(skeleton): eal
