//! TODO(skeleton): checksum
