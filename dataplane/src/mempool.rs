//! TODO(skeleton): mempool
