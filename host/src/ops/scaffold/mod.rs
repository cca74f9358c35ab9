//! `switchyard new`: start a project outside this repository, and add
//! handlers to it from templates, one per language, so the loop a user
//! runs (`switchyard build`, `serve`, `dev`) works from the first minute.
//!
//! - `new app DIR` writes `switchyard.toml` (commented, no route yet), the
//!   WIT the binary carries ([`crate::wit`]), `handlers/tools.sh`, a
//!   `.gitignore` and a README with the loop.
//! - `new handler LANG NAME [--route PATH]` writes `handlers/NAME/` from the
//!   language's template and appends its `[[route]]`, with its
//!   `[route.build]`, to the config ([`route`]).
//!
//! Nothing is half-written: files go into a temporary folder renamed into
//! place, and the config is replaced whole, after it was checked to stay
//! valid; a failure on the way removes what was made.

mod route;
mod template;

pub use template::Template;

use std::path::{Path, PathBuf};
use template::{File, Names, TOOLS_SH};

/// Why `switchyard new` made nothing.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    #[error("{0}")]
    Refused(String),
    #[error("{what} {}: {source}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> NewError + 'a {
    move |source| NewError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// What `new app` wrote.
pub struct NewApp {
    pub dir: PathBuf,
    pub files: Vec<String>,
}

/// Create the project `dir` (which must not exist, or be an empty folder).
pub fn new_app(dir: &Path) -> Result<NewApp, NewError> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map_err(io("cannot read", dir))?
            .next()
            .is_none();
        if !empty {
            return Err(NewError::Refused(format!(
                "{} exists and is not empty; `switchyard new app` starts a project in a new folder",
                dir.display()
            )));
        }
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io("cannot create", &parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".switchyard-new-")
        .tempdir_in(&parent)
        .map_err(io("cannot create a folder in", &parent))?;
    let mut files = template::app();
    files.push(File {
        path: TOOLS_SH.to_string(),
        text: template::repository_file(TOOLS_SH).to_string(),
    });
    write_all(staging.path(), &files)?;
    let wit = crate::wit::write(&staging.path().join("wit")).map_err(|e| NewError::Io {
        what: "cannot write the WIT into",
        path: dir.join("wit"),
        source: std::io::Error::other(format!("{e:#}")),
    })?;
    if dir.exists() {
        std::fs::remove_dir(dir).map_err(io("cannot replace the empty folder", dir))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, dir).map_err(|source| {
        let _ = std::fs::remove_dir_all(&staged);
        NewError::Io {
            what: "cannot create",
            path: dir.to_path_buf(),
            source,
        }
    })?;
    let mut names: Vec<String> = files.into_iter().map(|f| f.path).collect();
    names.push(format!("wit/ ({} files)", wit.len()));
    Ok(NewApp {
        dir: dir.to_path_buf(),
        files: names,
    })
}

impl std::fmt::Display for NewApp {
    /// What was made and what to do next, as `switchyard new app` says it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dir = self.dir.display();
        writeln!(f, "created {dir}: {}", self.files.join(", "))?;
        writeln!(
            f,
            "next: cd {dir} && switchyard new handler rust hello && switchyard dev"
        )
    }
}

/// What `new handler` wrote.
pub struct NewHandler {
    pub name: String,
    pub folder: PathBuf,
    pub route: String,
    pub config_file: PathBuf,
    pub template: Template,
    /// Also written, because the project lacked them.
    pub added: Vec<String>,
}

impl std::fmt::Display for NewHandler {
    /// What was made and what to do next, as `switchyard new handler` says it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for added in &self.added {
            writeln!(f, "added {added} (the project had none)")?;
        }
        writeln!(
            f,
            "created {} ({}) and route '{}' at {} in {}",
            self.folder.display(),
            self.template.description,
            self.name,
            self.route,
            self.config_file.display()
        )?;
        writeln!(
            f,
            "next: switchyard dev   (or: switchyard build {} && switchyard serve)",
            self.name
        )
    }
}

/// Add the handler `name` in `language` to the project of `config_file`,
/// served at `route` (default `/NAME`).
pub fn new_handler(
    config_file: &Path,
    language: &str,
    name: &str,
    route: Option<&str>,
) -> Result<NewHandler, NewError> {
    let template = Template::named(language).map_err(NewError::Refused)?;
    check_name(name)?;
    let route = route.map_or_else(|| format!("/{name}"), str::to_string);
    let config_file = std::path::absolute(config_file).unwrap_or(config_file.to_path_buf());
    let text = std::fs::read_to_string(&config_file).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => NewError::Refused(format!(
            "no {} here: run `switchyard new handler` in a project (made by `switchyard new app DIR`), or pass --config",
            config_file.display()
        )),
        _ => NewError::Io {
            what: "cannot read",
            path: config_file.clone(),
            source,
        },
    })?;
    let project = config_file.parent().unwrap_or(Path::new("/")).to_path_buf();
    let appended = route::append(
        &config_file,
        &text,
        &route::NewRoute {
            name,
            path: &route,
            language,
            watch: &template.watch,
        },
    )
    .map_err(NewError::Refused)?;
    let folder = project.join("handlers").join(name);
    if folder.exists() {
        return Err(NewError::Refused(format!(
            "{} exists already; pick another name",
            folder.display()
        )));
    }

    let handlers = project.join("handlers");
    std::fs::create_dir_all(&handlers).map_err(io("cannot create", &handlers))?;
    let mut added = Vec::new();
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.new-"))
        .tempdir_in(&handlers)
        .map_err(io("cannot create a folder in", &handlers))?;
    write_all(
        staging.path(),
        &template.files(&Names {
            name,
            route: &route,
        }),
    )?;
    let tools = project.join(TOOLS_SH);
    if !tools.exists() {
        write_all(
            &project,
            &[File {
                path: TOOLS_SH.to_string(),
                text: template::repository_file(TOOLS_SH).to_string(),
            }],
        )?;
        added.push(TOOLS_SH.to_string());
    }
    if !project.join("wit").exists() {
        crate::wit::write(&project.join("wit")).map_err(|e| NewError::Io {
            what: "cannot write the WIT into",
            path: project.join("wit"),
            source: std::io::Error::other(format!("{e:#}")),
        })?;
        added.push("wit/".to_string());
    }
    let staged = staging.keep();
    std::fs::rename(&staged, &folder).map_err(|source| {
        let _ = std::fs::remove_dir_all(&staged);
        NewError::Io {
            what: "cannot create",
            path: folder.clone(),
            source,
        }
    })?;
    if let Err(error) = replace(&config_file, &appended) {
        let _ = std::fs::remove_dir_all(&folder);
        return Err(error);
    }
    Ok(NewHandler {
        name: name.to_string(),
        folder,
        route,
        config_file,
        template,
        added,
    })
}

/// A handler name is a route name, a folder, a crate and a file stem at
/// once: lowercase letters, digits and inner hyphens.
fn check_name(name: &str) -> Result<(), NewError> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(NewError::Refused(format!(
            "handler name {name:?} is invalid: use 1-64 lowercase letters, digits and single inner hyphens, starting with a letter (it names the folder, the route and the .wasm)"
        )))
    }
}

/// Write `files` under `dir`, `*.sh` executable.
fn write_all(dir: &Path, files: &[File]) -> Result<(), NewError> {
    use std::os::unix::fs::PermissionsExt as _;
    for file in files {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
        }
        std::fs::write(&path, &file.text).map_err(io("cannot write", &path))?;
        if file.path.ends_with(".sh") {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(io("cannot make executable", &path))?;
        }
    }
    Ok(())
}

/// Replace `file` with `text` at once (a temporary file renamed over it).
fn replace(file: &Path, text: &str) -> Result<(), NewError> {
    use std::io::Write as _;
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(io("cannot write in", dir))?;
    temp.write_all(text.as_bytes())
        .map_err(io("cannot write", temp.path()))?;
    if let Ok(metadata) = std::fs::metadata(file) {
        let _ = std::fs::set_permissions(temp.path(), metadata.permissions());
    }
    temp.persist(file)
        .map_err(|e| NewError::Io {
            what: "cannot replace",
            path: file.to_path_buf(),
            source: e.error,
        })
        .map(|_| ())
}
