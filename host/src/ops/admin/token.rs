//! The admin API's bearer token: where it comes from, and how a request's
//! `Authorization` header is checked against it.
//!
//! The token is `SWITCHYARD_ADMIN_TOKEN` if set, else the contents of
//! `[admin] token_file` (surrounding whitespace trimmed); without either the
//! admin API stays off. Both sides are hashed before the comparison, which
//! then runs in constant time over equal-length digests, so neither the
//! token's bytes nor its length leak through response timing.

use crate::config::AdminConfig;
use sha2::{Digest as _, Sha256};
use std::path::PathBuf;
use subtle::ConstantTimeEq as _;

/// The environment variable holding the admin token.
pub const TOKEN_ENV: &str = "SWITCHYARD_ADMIN_TOKEN";

/// A configured admin token (only its digest is kept).
pub struct Token([u8; 32]);

/// Why the configured token cannot be used; the server refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{TOKEN_ENV} is set but empty; unset it or give it a token")]
    EmptyEnv,
    #[error("{TOKEN_ENV} is not valid UTF-8")]
    EnvNotUnicode,
    #[error("[admin] token_file {}: cannot read it: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("[admin] token_file {}: the file is empty", file.display())]
    EmptyFile { file: PathBuf },
}

impl Token {
    /// The token from `env` (the value of [`TOKEN_ENV`]) or else
    /// `config`'s token file; `None` when neither is configured.
    pub fn resolve(
        env: Option<std::ffi::OsString>,
        config: &AdminConfig,
    ) -> Result<Option<Token>, TokenError> {
        if let Some(value) = env {
            let value = value.into_string().map_err(|_| TokenError::EnvNotUnicode)?;
            let value = value.trim();
            if value.is_empty() {
                return Err(TokenError::EmptyEnv);
            }
            return Ok(Some(Token::new(value)));
        }
        let Some(file) = &config.token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(file).map_err(|source| TokenError::Read {
            file: file.clone(),
            source,
        })?;
        match text.trim() {
            "" => Err(TokenError::EmptyFile { file: file.clone() }),
            token => Ok(Some(Token::new(token))),
        }
    }

    /// A token with this value.
    pub fn new(token: &str) -> Token {
        Token(Sha256::digest(token.as_bytes()).into())
    }

    /// Whether `authorization` is `Bearer <this token>`.
    pub fn admits(&self, authorization: Option<&http::HeaderValue>) -> bool {
        let Some(given) = authorization
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
        else {
            return false;
        };
        let given: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
        given.ct_eq(&self.0).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn header(value: &str) -> HeaderValue {
        HeaderValue::from_str(value).unwrap()
    }

    #[test]
    fn only_the_exact_bearer_token_is_admitted() {
        let token = Token::new("s3cret-token");
        assert!(token.admits(Some(&header("Bearer s3cret-token"))));
        for wrong in [
            "Bearer s3cret-tokeN",
            "Bearer s3cret",
            "Bearer ",
            "s3cret-token",
            "Basic s3cret-token",
        ] {
            assert!(!token.admits(Some(&header(wrong))), "{wrong}");
        }
        assert!(!token.admits(None));
    }

    #[test]
    fn the_environment_wins_and_empty_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        let config = AdminConfig {
            token_file: Some(file.clone()),
            max_upload_bytes: 1,
            upload_timeout: std::time::Duration::from_secs(1),
        };
        let env = Token::resolve(Some("from-env".into()), &config)
            .unwrap()
            .unwrap();
        assert!(env.admits(Some(&header("Bearer from-env"))));
        let from_file = Token::resolve(None, &config).unwrap().unwrap();
        assert!(from_file.admits(Some(&header("Bearer from-file"))));

        assert!(matches!(
            Token::resolve(Some(" ".into()), &config),
            Err(TokenError::EmptyEnv)
        ));
        std::fs::write(&file, "\n").unwrap();
        assert!(matches!(
            Token::resolve(None, &config),
            Err(TokenError::EmptyFile { .. })
        ));
        let missing = AdminConfig {
            token_file: Some(dir.path().join("missing")),
            max_upload_bytes: 1,
            upload_timeout: std::time::Duration::from_secs(1),
        };
        let error = Token::resolve(None, &missing).err().unwrap().to_string();
        assert!(
            error.contains("missing") && error.contains("cannot read"),
            "{error}"
        );
        let none = AdminConfig {
            token_file: None,
            max_upload_bytes: 1,
            upload_timeout: std::time::Duration::from_secs(1),
        };
        assert!(Token::resolve(None, &none).unwrap().is_none());
    }
}
