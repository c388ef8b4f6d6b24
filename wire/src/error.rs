//! The one error type of the wire layer. Each variant is a distinct drop
//! cause: the worker counts drops per variant, so keep them apart rather
//! than folding them into a generic "bad packet".

use thiserror::Error as ThisError;

/// Why a buffer could not be read or written as a given protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ThisError)]
pub enum Error {
    /// The buffer is shorter than the header or a length field claims.
    #[error("truncated packet")]
    Truncated,
    /// A field holds a value the format forbids (e.g. a length too small).
    #[error("malformed packet")]
    Malformed,
    /// The checksum does not match the contents.
    #[error("bad checksum")]
    BadChecksum,
    /// The version field names a different protocol version.
    #[error("bad protocol version")]
    BadVersion,
    /// Valid on the wire, but a variant we do not handle (e.g. fragments).
    #[error("unsupported packet")]
    Unsupported,
}
