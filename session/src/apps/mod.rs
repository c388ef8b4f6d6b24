//! Builtin applications, startable from the config (`[[app]] kind = ...`) or the CLI.
//!
//! They use only the [`crate::builtin::AppApi`], the same operations an
//! external application has, so they double as tests of that API.

pub mod echo;
pub mod http;
