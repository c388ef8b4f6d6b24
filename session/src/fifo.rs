//! TODO(skeleton): fifo
