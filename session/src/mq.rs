//! TODO(skeleton): mq
