//! How the admin API replaces a file (a route's `.wasm`, the config file):
//! atomically, as the file it replaces, and never through a link.
//!
//! The new bytes go to a temporary file beside the target, created with
//! `O_EXCL` under a random name (so nobody can plant a file or symlink
//! there for us to write through), given the target's mode and, where the
//! process may, its owner and group (a `0600` config stays `0600`), flushed,
//! then renamed over the target: readers see the old file or the new one,
//! never a mix. The target is opened with `O_NOFOLLOW` first: a symlink is
//! refused, since renaming over it would silently replace the link (a
//! ConfigMap's, say) with a plain file.

use std::fs::{File, Permissions};
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

/// Why a file was not replaced; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0} is a symbolic link; the admin API replaces only regular files (point the config at the link's target, or replace the link by a file)")]
    Symlink(String),
    #[error("{0} is not a regular file")]
    NotAFile(String),
    #[error("{what} {file}: {source}")]
    Io {
        what: &'static str,
        file: String,
        source: std::io::Error,
    },
}

/// Replace `target` with `bytes` by the rules in the module doc.
pub fn write_atomically(target: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let shown = || target.display().to_string();
    let io = |what: &'static str| {
        move |source: std::io::Error| WriteError::Io {
            what,
            file: target.display().to_string(),
            source,
        }
    };
    let existing = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(target);
    let metadata = match existing {
        Err(error) if error.raw_os_error() == Some(libc::ELOOP) => {
            return Err(WriteError::Symlink(shown()))
        }
        Err(error) => return Err(io("cannot open")(error)),
        Ok(file) => file.metadata().map_err(io("cannot read the metadata of"))?,
    };
    if !metadata.is_file() {
        return Err(WriteError::NotAFile(shown()));
    }
    let folder = match target.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    let name = target
        .file_name()
        .ok_or_else(|| WriteError::NotAFile(shown()))?
        .to_string_lossy();
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".switchyard-tmp")
        .tempfile_in(folder)
        .map_err(io("cannot create a temporary file beside"))?;
    keep_owner(temp.as_file(), &metadata);
    // After chown, which may clear set-id bits.
    temp.as_file()
        .set_permissions(Permissions::from_mode(metadata.mode() & 0o7777))
        .map_err(io("cannot set the mode of the temporary file for"))?;
    temp.write_all(bytes)
        .map_err(io("cannot write the temporary file for"))?;
    temp.as_file()
        .sync_all()
        .map_err(io("cannot flush the temporary file for"))?;
    // On failure the temporary file is removed when `persist`'s error drops.
    temp.persist(target)
        .map_err(|error| io("cannot rename the temporary file over")(error.error))?;
    Ok(())
}

/// Give `file` the owner and group of `like` where the process may: root
/// may give both, an owner may give a group it is in, others give neither
/// (and the file keeps the writer's, as any editor's save would).
fn keep_owner(file: &File, like: &std::fs::Metadata) {
    let mine = match file.metadata() {
        Ok(mine) => mine,
        Err(_) => return,
    };
    if (mine.uid(), mine.gid()) == (like.uid(), like.gid()) {
        return;
    }
    if std::os::unix::fs::fchown(file, Some(like.uid()), Some(like.gid())).is_ok() {
        return;
    }
    if let Err(error) = std::os::unix::fs::fchown(file, None, Some(like.gid())) {
        tracing::debug!("cannot keep the group of a replaced file: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().mode() & 0o7777
    }

    fn entries(folder: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_new_bytes_replace_the_file_and_keep_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        for wanted in [0o600, 0o640, 0o755] {
            let file = dir.path().join("config.toml");
            std::fs::write(&file, "old").unwrap();
            std::fs::set_permissions(&file, Permissions::from_mode(wanted)).unwrap();
            write_atomically(&file, b"new").unwrap();
            assert_eq!(std::fs::read(&file).unwrap(), b"new");
            assert_eq!(mode(&file), wanted, "{wanted:o}");
            assert_eq!(
                entries(dir.path()),
                ["config.toml"],
                "no temporary file left"
            );
        }
    }

    #[test]
    fn a_symlinked_target_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.wasm");
        let link = dir.path().join("hello.wasm");
        std::fs::write(&real, "old").unwrap();
        symlink(&real, &link).unwrap();
        let error = write_atomically(&link, b"new").unwrap_err();
        assert!(matches!(error, WriteError::Symlink(_)), "{error}");
        assert!(error.to_string().contains("symbolic link"), "{error}");
        assert_eq!(std::fs::read(&real).unwrap(), b"old");
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(entries(dir.path()), ["hello.wasm", "real.wasm"]);
    }

    #[test]
    fn a_folder_or_a_missing_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let error = write_atomically(dir.path(), b"x").unwrap_err();
        assert!(matches!(error, WriteError::NotAFile(_)), "{error}");
        let error = write_atomically(&dir.path().join("missing"), b"x").unwrap_err();
        assert!(error.to_string().contains("cannot open"), "{error}");
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn a_planted_file_at_the_old_temporary_name_is_not_written_through() {
        // The old temporary name was `.NAME.switchyard-PID`: a symlink
        // planted there must not be followed.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hello.wasm");
        let victim = dir.path().join("victim");
        std::fs::write(&file, "old").unwrap();
        std::fs::write(&victim, "precious").unwrap();
        let planted = dir
            .path()
            .join(format!(".hello.wasm.switchyard-{}", std::process::id()));
        symlink(&victim, &planted).unwrap();
        write_atomically(&file, b"new").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"new");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }
}
