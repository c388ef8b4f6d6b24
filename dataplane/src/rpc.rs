//! TODO(skeleton): rpc
