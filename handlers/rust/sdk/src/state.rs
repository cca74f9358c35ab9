//! The words for wasi:keyvalue's and wasi:config's errors, said once.
//!
//! wit-bindgen gives these error variants only a `Debug`-style `Display`
//! (`Error::Other("...")`); Switchyard's stateful handlers answer with the WIT
//! case names instead, which is what the host's tests and an operator read:
//! `no-such-store`, `access-denied`, `other: MESSAGE`, `upstream: MESSAGE`,
//! `io: MESSAGE`.

use crate::wasi::config::store::Error as ConfigError;
use crate::wasi::keyvalue::store::Error as KeyValueError;

/// `no-such-store`, `access-denied` or `other: MESSAGE`.
pub fn keyvalue_error_text(error: &KeyValueError) -> String {
    match error {
        KeyValueError::NoSuchStore => "no-such-store".to_owned(),
        KeyValueError::AccessDenied => "access-denied".to_owned(),
        KeyValueError::Other(message) => format!("other: {message}"),
    }
}

/// `upstream: MESSAGE` or `io: MESSAGE`.
pub fn config_error_text(error: &ConfigError) -> String {
    match error {
        ConfigError::Upstream(message) => format!("upstream: {message}"),
        ConfigError::Io(message) => format!("io: {message}"),
    }
}
