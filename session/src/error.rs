//! Errors of the session layer's control plane.
//!
//! Every control operation (attach, detach, app worker add/del, listen,
//! unlisten, namespace add) returns a [`SessionError`]. The same error must
//! reach a builtin app as a typed value, an external app as a number in an
//! API reply and a person as a line of CLI text, so the mapping to the shared
//! [`ErrorCode`] numbers lives here in one table ([`SessionError::error_code`])
//! and the text in the `Display` impl.
//! VPP does the same with its `VNET_API_ERROR_*` list (`APP_ALREADY_ATTACHED`,
//! `APP_INVALID_NS`, `APP_WRONG_NS_SECRET`, `ADDRESS_IN_USE`, ...), which its
//! binary API returns as negative `retval`s.

use shm::limits::OptionError;
use shm::types::ErrorCode;
use thiserror::Error;

/// A control-plane failure, with enough context to tell the user what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SessionError {
    /// An application with this name is already attached.
    #[error("application {0:?} is already attached")]
    AlreadyAttached(String),
    /// The options are individually valid but their combination is not supported.
    #[error("unsupported configuration: {0}")]
    UnsupportedConfig(String),
    /// No namespace with this id exists.
    #[error("invalid namespace {0:?}")]
    InvalidNamespace(String),
    /// The namespace exists but the secret presented for it is wrong.
    #[error("wrong secret for namespace {0:?}")]
    WrongNamespaceSecret(String),
    /// The application handle names no attached application (never attached, detached, or stale).
    #[error("application not attached")]
    NotAttached,
    /// An option or argument has a value outside what is accepted.
    #[error("invalid value for {key}: {reason}")]
    InvalidValue {
        /// The option or argument name, as the user wrote it (e.g. `rx_fifo_size`).
        key: &'static str,
        /// Why the value is rejected.
        reason: String,
    },
    /// Another application already listens on this endpoint in the same table.
    #[error("address in use: {0}")]
    AddressInUse(String),
    /// No app listener has this index.
    #[error("no such listener {0}")]
    NoSuchListener(u32),
    /// The app worker handle is unknown, stale, or belongs to another application.
    #[error("no such app worker {0}")]
    NoSuchAppWorker(u32),
    /// No application has this index.
    #[error("no such application {0}")]
    NoSuchApp(u32),
    /// The app worker does not listen on this endpoint.
    #[error("not listening on {0}")]
    NotListening(String),
    /// The app worker already listens on this endpoint.
    #[error("already listening on {0}")]
    AlreadyListening(String),
    /// A pool ran out of indices (names what: applications, app workers, listeners).
    #[error("too many {0}")]
    TooMany(&'static str),
}

impl SessionError {
    /// The API error code of this error: the one table from session errors
    /// to the shared [`ErrorCode`]s (`-100..=-149`, numbered there; codes are
    /// never reused or renumbered).
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::AlreadyAttached(_) => ErrorCode::AlreadyAttached,
            Self::UnsupportedConfig(_) => ErrorCode::UnsupportedConfig,
            Self::InvalidNamespace(_) => ErrorCode::InvalidNamespace,
            Self::WrongNamespaceSecret(_) => ErrorCode::WrongNamespaceSecret,
            Self::NotAttached => ErrorCode::NotAttached,
            Self::InvalidValue { .. } => ErrorCode::InvalidValue,
            Self::AddressInUse(_) => ErrorCode::AddressInUse,
            Self::NoSuchListener(_) => ErrorCode::NoSuchListener,
            Self::NoSuchAppWorker(_) => ErrorCode::NoSuchAppWorker,
            Self::NoSuchApp(_) => ErrorCode::NoSuchApp,
            Self::NotListening(_) => ErrorCode::NotListening,
            Self::AlreadyListening(_) => ErrorCode::AlreadyListening,
            Self::TooMany(_) => ErrorCode::TooMany,
        }
    }

    /// [`Self::error_code`] as the number replies and events carry.
    pub fn code(&self) -> i32 {
        self.error_code() as i32
    }

    /// Shorthand for [`SessionError::InvalidValue`].
    pub fn invalid(key: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidValue { key, reason: reason.into() }
    }
}

impl From<OptionError> for SessionError {
    /// A value outside its [`shm::limits`] range is an invalid value, under the key the check named.
    fn from(e: OptionError) -> Self {
        Self::invalid(e.key, e.reason)
    }
}

/// One of every error (for tests that check code tables).
#[cfg(test)]
pub(crate) fn every_error() -> Vec<SessionError> {
    vec![
        SessionError::AlreadyAttached("a".into()),
        SessionError::UnsupportedConfig("x".into()),
        SessionError::InvalidNamespace("n".into()),
        SessionError::WrongNamespaceSecret("n".into()),
        SessionError::NotAttached,
        SessionError::invalid("k", "r"),
        SessionError::AddressInUse("tcp://0.0.0.0/1".into()),
        SessionError::NoSuchListener(1),
        SessionError::NoSuchAppWorker(1),
        SessionError::NoSuchApp(1),
        SessionError::NotListening("e".into()),
        SessionError::AlreadyListening("e".into()),
        SessionError::TooMany("listeners"),
    ]
}

#[cfg(test)]
mod test {
    use super::{every_error, SessionError};

    #[test]
    fn codes_are_negative_distinct_and_in_range() {
        let mut codes: Vec<i32> = every_error().iter().map(SessionError::code).collect();
        assert!(codes.iter().all(|c| (-149..=-100).contains(c)));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), every_error().len());
    }

    #[test]
    fn display_names_the_key() {
        let e = SessionError::invalid("rx_fifo_size", "must be a power of two");
        assert_eq!(e.to_string(), "invalid value for rx_fifo_size: must be a power of two");
    }
}
