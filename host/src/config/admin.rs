//! The `[admin]` section: where the admin API's token comes from, how
//! large an upload it takes and how long it waits for one. Read at start-up
//! only.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The `[admin]` section: read at start-up only.
#[derive(Clone, Debug, PartialEq)]
pub struct AdminConfig {
    /// A file holding the admin API's bearer token, resolved against the
    /// config file's folder (`SWITCHYARD_ADMIN_TOKEN` wins over it).
    pub token_file: Option<PathBuf>,
    /// The largest component `PUT /admin/routes/{name}/component` accepts
    /// (`max_upload_mb`, default 64).
    pub max_upload_bytes: u64,
    /// How long an admin request's body may take to arrive in full
    /// (`upload_timeout_ms`, default 60 s); then 408.
    pub upload_timeout: Duration,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    token_file: Option<PathBuf>,
    max_upload_mb: Option<i64>,
    upload_timeout_ms: Option<i64>,
}

impl RawAdmin {
    /// Resolve `token_file` against `base` (the config file's folder) and
    /// bound `max_upload_mb`.
    pub(super) fn resolve(self, base: &Path) -> Result<AdminConfig, String> {
        Ok(AdminConfig {
            token_file: match self.token_file {
                Some(path) if path.as_os_str().is_empty() => {
                    return Err("`token_file` is empty".into())
                }
                path => path.map(|path| base.join(path)),
            },
            max_upload_bytes: match self.max_upload_mb {
                Some(mb) => super::limits::bounded("max_upload_mb", mb, 1, 1024)? << 20,
                None => 64 << 20,
            },
            upload_timeout: Duration::from_millis(match self.upload_timeout_ms {
                Some(ms) => super::limits::bounded("upload_timeout_ms", ms, 100, 3_600_000)?,
                None => 60_000,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str) -> Result<AdminConfig, String> {
        toml::from_str::<RawAdmin>(text)
            .unwrap()
            .resolve(Path::new("/etc/sy"))
    }

    #[test]
    fn max_upload_mb_is_bounded_from_1_to_1024() {
        assert_eq!(resolve("").unwrap().max_upload_bytes, 64 << 20);
        for mb in [1, 1024] {
            let admin = resolve(&format!("max_upload_mb = {mb}")).unwrap();
            assert_eq!(admin.max_upload_bytes, mb << 20);
        }
        for mb in [0, 1025] {
            let e = resolve(&format!("max_upload_mb = {mb}")).unwrap_err();
            assert!(
                e.contains(&format!(
                    "`max_upload_mb` = {mb} is out of range (1 to 1024)"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn upload_timeout_ms_defaults_to_a_minute_and_is_bounded() {
        assert_eq!(resolve("").unwrap().upload_timeout, Duration::from_secs(60));
        let admin = resolve("upload_timeout_ms = 250").unwrap();
        assert_eq!(admin.upload_timeout, Duration::from_millis(250));
        for ms in [99, 3_600_001] {
            let e = resolve(&format!("upload_timeout_ms = {ms}")).unwrap_err();
            assert!(e.contains("`upload_timeout_ms`"), "{e}");
        }
    }

    #[test]
    fn the_token_file_is_resolved_against_the_config_folder() {
        let admin = resolve("token_file = \"admin.token\"").unwrap();
        assert_eq!(
            admin.token_file.as_deref(),
            Some(Path::new("/etc/sy/admin.token"))
        );
        assert!(resolve("token_file = \"\"")
            .unwrap_err()
            .contains("`token_file` is empty"));
    }
}
