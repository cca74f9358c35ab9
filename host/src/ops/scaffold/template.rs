//! The templates `switchyard new` writes, embedded in the binary by
//! `build.rs` from `host/templates/`: the app (`app/`) and one handler
//! template per language (`handler/<LANG>/`, described by its
//! `template.toml`). Files a template shares with this repository's own
//! builds (`handlers/tools.sh`, the JavaScript build driver) are embedded
//! from where they live, never copied into the templates.

use serde::Deserialize;
use std::collections::BTreeMap;

/// Every file under `host/templates/`, by its path there, and its text.
const TEMPLATE_FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/template_files.rs"));

/// The repository files the templates name, by their path in the repository.
const REPOSITORY_FILES: &[(&str, &str)] =
    include!(concat!(env!("OUT_DIR"), "/repository_files.rs"));

/// Where every build script's shared helpers live, in the repository and in
/// a project alike.
pub const TOOLS_SH: &str = "handlers/tools.sh";

/// A file to write: its path relative to the folder it goes into, and its text.
pub struct File {
    pub path: String,
    pub text: String,
}

/// The files of the app template, `gitignore` written as `.gitignore` (a
/// file of that name in the repository would apply to the template folder).
pub fn app() -> Vec<File> {
    files_under("app/")
        .map(|(path, text)| File {
            path: if path == "gitignore" {
                ".gitignore".to_string()
            } else {
                path.to_string()
            },
            text: text.to_string(),
        })
        .collect()
}

/// The text of a repository file the templates share (see [`TOOLS_SH`]).
pub fn repository_file(path: &str) -> &'static str {
    REPOSITORY_FILES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, text)| *text)
        .unwrap_or_else(|| panic!("build.rs embeds {path}"))
}

/// One language's handler template.
pub struct Template {
    pub language: String,
    pub description: String,
    /// Glob patterns of its sources, relative to the handler's folder.
    pub watch: Vec<String>,
    folder: String,
    shared: BTreeMap<String, String>,
}

/// `template.toml`: what the template is and what it shares.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    description: String,
    watch: Vec<String>,
    /// Destination in the handler's folder → repository path.
    #[serde(default)]
    files: BTreeMap<String, String>,
}

/// What the placeholders of a handler template stand for.
pub struct Names<'a> {
    pub name: &'a str,
    pub route: &'a str,
}

impl Template {
    /// Every language's template, by name.
    pub fn all() -> Vec<Template> {
        let mut all = Vec::new();
        for (path, text) in TEMPLATE_FILES {
            let Some(language) = path
                .strip_prefix("handler/")
                .and_then(|rest| rest.strip_suffix("/template.toml"))
            else {
                continue;
            };
            // build.rs parsed these already: a broken one fails the build.
            let meta: Meta = toml::from_str(text)
                .unwrap_or_else(|e| panic!("host/templates/{path} is invalid: {e}"));
            all.push(Template {
                language: language.to_string(),
                description: meta.description,
                watch: meta.watch,
                folder: format!("handler/{language}/"),
                shared: meta.files,
            });
        }
        all
    }

    /// The template for `language`, or an error listing the languages.
    pub fn named(language: &str) -> Result<Template, String> {
        let all = Template::all();
        let known: Vec<String> = all.iter().map(|t| t.language.clone()).collect();
        all.into_iter()
            .find(|t| t.language == language)
            .ok_or_else(|| {
                format!(
                    "no handler template for '{language}' (languages: {})",
                    known.join(", ")
                )
            })
    }

    /// The handler's files, placeholders replaced: `{{name}}`,
    /// `{{name_snake}}` (`-` → `_`) and `{{route}}`. Shared files are written
    /// as they are.
    pub fn files(&self, names: &Names) -> Vec<File> {
        let snake = names.name.replace('-', "_");
        let mut files: Vec<File> = files_under(&self.folder)
            .filter(|(path, _)| *path != "template.toml")
            .map(|(path, text)| File {
                path: path.to_string(),
                text: text
                    .replace("{{name}}", names.name)
                    .replace("{{name_snake}}", &snake)
                    .replace("{{route}}", names.route),
            })
            .collect();
        for (dest, source) in &self.shared {
            files.push(File {
                path: dest.clone(),
                text: repository_file(source).to_string(),
            });
        }
        files
    }
}

/// The embedded files under `prefix`, by their path below it.
fn files_under(prefix: &str) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
    TEMPLATE_FILES
        .iter()
        .filter_map(move |(path, text)| path.strip_prefix(prefix).map(|rest| (rest, *text)))
}
