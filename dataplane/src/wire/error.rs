//! TODO(skeleton): error
pub struct Error;
