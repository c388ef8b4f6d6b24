//! TODO(skeleton): worker
