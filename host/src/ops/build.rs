//! `switchyard build [NAME...]`: run the build commands of a config's routes
//! and middleware (`[route.build]`, `[middleware.build]`), in config order,
//! each once, printing its outcome and time; the caller exits non-zero
//! naming every one that failed. The commands' own output goes straight to
//! the terminal, so compiler errors read as they would by hand.

use crate::config::{BuildConfig, Config};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One thing to build: `route 'hello'` or `middleware 'auth'`.
pub struct Target {
    pub label: String,
    pub name: String,
    /// A middleware's build, not a route's.
    pub middleware: bool,
    pub build: BuildConfig,
}

/// How one build went.
pub struct Built {
    pub label: String,
    pub took: Duration,
    /// `None` when it succeeded; else why not.
    pub failure: Option<String>,
}

/// The targets `config` can build, limited to `names` (route or middleware
/// names) unless empty. A name with nothing to build is an error listing
/// what can be built.
pub fn targets(config: &Config, names: &[String]) -> Result<Vec<Target>, String> {
    let mut all: Vec<Target> = Vec::new();
    for route in &config.routes {
        for middleware in &route.middleware {
            if let Some(build) = &middleware.build {
                if !all.iter().any(|t| t.name == middleware.name) {
                    all.push(Target {
                        label: format!("middleware '{}'", middleware.name),
                        name: middleware.name.clone(),
                        middleware: true,
                        build: build.clone(),
                    });
                }
            }
        }
        if let Some(build) = &route.build {
            all.push(Target {
                label: format!("route '{}'", route.name),
                name: route.name.clone(),
                middleware: false,
                build: build.clone(),
            });
        }
    }
    if names.is_empty() {
        // Two routes serving one component (a handler behind middleware and
        // alone) build it once.
        let mut seen: Vec<(String, std::path::PathBuf)> = Vec::new();
        all.retain(|t| {
            let key = (t.build.command.clone(), t.build.workdir.clone());
            let first = !seen.contains(&key);
            seen.push(key);
            first
        });
        return Ok(all);
    }
    if let Some(missing) = names.iter().find(|n| !all.iter().any(|t| &t.name == *n)) {
        let known: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
        return Err(format!(
            "nothing named '{missing}' has a build table in {} (buildable: {})",
            config.file.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ));
    }
    all.retain(|t| names.contains(&t.name));
    Ok(all)
}

/// Build each of `targets` in turn, printing what runs and how it went;
/// returns the labels of those that failed.
pub fn run_all(targets: &[Target]) -> Vec<String> {
    let mut failed = Vec::new();
    for target in targets {
        println!("building {}: {}", target.label, target.build.command);
        let built = run(target);
        let took = built.took.as_secs_f64();
        match built.failure {
            None => println!("{}: built in {took:.1} s", built.label),
            Some(why) => {
                println!("{}: build failed after {took:.1} s: {why}", built.label);
                failed.push(built.label);
            }
        }
    }
    failed
}

/// Run one target's command (`sh -c`) in its workdir, its output on ours.
pub fn run(target: &Target) -> Built {
    let started = Instant::now();
    let status = Command::new("sh")
        .arg("-c")
        .arg(&target.build.command)
        .current_dir(&target.build.workdir)
        .stdin(Stdio::null())
        .status();
    let failure = match status {
        Ok(status) if status.success() => None,
        Ok(status) => Some(match status.code() {
            Some(code) => format!("`{}` exited with {code}", target.build.command),
            None => format!("`{}` was killed by a signal", target.build.command),
        }),
        Err(error) => Some(format!(
            "cannot run `{}` in {}: {error}",
            target.build.command,
            target.build.workdir.display()
        )),
    };
    Built {
        label: target.label.clone(),
        took: started.elapsed(),
        failure,
    }
}
