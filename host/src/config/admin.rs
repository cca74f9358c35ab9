//! The `[admin]` section: where the admin API's token comes from and how
//! large an upload it takes. Read at start-up only.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The `[admin]` section: read at start-up only.
#[derive(Clone, Debug, PartialEq)]
pub struct AdminConfig {
    /// A file holding the admin API's bearer token, resolved against the
    /// config file's folder (`SWITCHYARD_ADMIN_TOKEN` wins over it).
    pub token_file: Option<PathBuf>,
    /// The largest component `PUT /admin/routes/{name}/component` accepts
    /// (`max_upload_mb`, default 64).
    pub max_upload_bytes: u64,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    token_file: Option<PathBuf>,
    max_upload_mb: Option<i64>,
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
