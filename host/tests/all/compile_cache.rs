//! The compile cache, through the real binary: a restart, or a reload of
//! bytes compiled before, deserializes instead of compiling; a corrupted,
//! truncated or foreign entry is logged with the route and files,
//! recompiled and never run; two servers compiling one component at once
//! leave one good entry; the size bound evicts the least recently used
//! entries (a hit counts as a use), and only the cache's own files; a
//! read-only directory is loaded from and never written; an unusable
//! directory or `--no-cache` / `enabled = false` still serves, reading and
//! writing nothing; `--cache-dir` and `SWITCHYARD_CACHE_DIR` win over
//! `[cache] dir`.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use switchyard::digest_hex;

const HELLO: &str = "Hello from Switchyard!";
const COMPILED: &str = "compiled took_ms=";
const LOADED: &str = "loaded from the compile cache took_ms=";
/// A folder holding `switchyard.toml` (routes + `extra`) and a cache dir.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        Site {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Write the config: `/hello` (and any more routes) plus `extra` TOML.
    fn config(&self, routes: &str, extra: &str) -> PathBuf {
        let file = self.dir.path().join("switchyard.toml");
        std::fs::write(
            &file,
            format!("{}{routes}{extra}", route("/hello", "hello")),
        )
        .unwrap();
        file
    }

    /// Start the binary on the config with `--cache-dir` = this site's cache.
    fn start(&self, routes: &str, args: &[&str]) -> Process {
        let cache = self.cache();
        let mut all = vec!["--no-watch", "--cache-dir", cache.to_str().unwrap()];
        all.extend_from_slice(args);
        Process::spawn(&self.config(routes, ""), &all)
    }

    /// The entry for a built handler, under the one engine folder.
    fn entry(&self, handler: &str) -> PathBuf {
        engine_folder(&self.cache()).join(entry_name(handler))
    }
}

/// The file name of a built handler's entry: `<sha256>.cwasm`.
fn entry_name(handler: &str) -> String {
    let digest = switchyard::digest(&std::fs::read(component(handler)).unwrap());
    format!("{}.cwasm", digest_hex(&digest))
}

/// The single engine folder a cache dir holds.
fn engine_folder(cache: &Path) -> PathBuf {
    let folders: Vec<_> = std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    folders[0].clone()
}

/// Every cache entry under `cache`.
fn entries(cache: &Path) -> Vec<PathBuf> {
    let Ok(folders) = std::fs::read_dir(cache) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for folder in folders {
        let folder = folder.unwrap().path();
        if folder.is_dir() {
            for file in std::fs::read_dir(&folder).unwrap() {
                let path = file.unwrap().path();
                if path.extension().is_some_and(|e| e == "cwasm") {
                    found.push(path);
                }
            }
        }
    }
    found
}

/// The stderr lines so far that contain `needle`.
fn stderr_lines_with(process: &impl Stderr, needle: &str) -> Vec<String> {
    let lines = process.stderr_now();
    lines.into_iter().filter(|l| l.contains(needle)).collect()
}

async fn body(process: &Process, path: &str) -> String {
    expect_text(get(&http1(), process.url(path)).await, 200, path).await
}

/// Start, expect the component to be compiled and served, stop.
async fn warm(site: &Site, routes: &str) {
    let server = site.start(routes, &[]);
    stderr_line(&server, &[COMPILED, "route=hello"]);
    assert!(body(&server, "/hello").await.contains(HELLO));
}

/// A start that finds a bad entry: the warning names the route, the
/// component file, the entry and `reason`; the component is compiled,
/// served, and a good entry written (the next start loads it).
async fn expect_recompiled(site: &Site, reason: &str) {
    let entry = site.entry("hello");
    let server = site.start("", &[]);
    let hello = component("hello");
    let warning = stderr_line(&server, &["WARN", "is unusable", reason]);
    for needle in [
        "route=hello",
        hello.to_str().unwrap(),
        entry.to_str().unwrap(),
    ] {
        assert!(warning.contains(needle), "{needle:?} missing in: {warning}");
    }
    stderr_line(&server, &[COMPILED, "route=hello"]);
    assert!(stderr_lines_with(&server, LOADED).is_empty());
    assert!(body(&server, "/hello").await.contains(HELLO));
    drop(server);

    let server = site.start("", &[]);
    stderr_line(&server, &[LOADED, "route=hello"]);
    assert!(body(&server, "/hello").await.contains(HELLO));
}

#[tokio::test]
async fn a_restart_loads_from_the_cache_and_serves() {
    let site = Site::new();
    warm(&site, "").await;
    assert_eq!(entries(&site.cache()), vec![site.entry("hello")]);

    let server = site.start("", &[]);
    let line = stderr_line(&server, &[LOADED, "route=hello"]);
    assert!(
        line.contains(site.entry("hello").to_str().unwrap()),
        "{line}"
    );
    assert!(stderr_lines_with(&server, COMPILED).is_empty());
    assert!(body(&server, "/hello").await.contains(HELLO));
}

#[tokio::test]
async fn a_flipped_byte_is_detected_recompiled_and_rewritten() {
    let site = Site::new();
    warm(&site, "").await;
    let entry = site.entry("hello");
    let mut bytes = std::fs::read(&entry).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&entry, &bytes).unwrap();
    expect_recompiled(&site, "checksum mismatch").await;
}

#[tokio::test]
async fn a_truncated_entry_is_detected_recompiled_and_rewritten() {
    let site = Site::new();
    warm(&site, "").await;
    let entry = site.entry("hello");
    let bytes = std::fs::read(&entry).unwrap();
    std::fs::write(&entry, &bytes[..bytes.len() / 3]).unwrap();
    expect_recompiled(&site, "no Switchyard trailer at its end: truncated").await;
    // Shorter than the trailer itself.
    std::fs::write(&entry, b"SYCWASM\0").unwrap();
    expect_recompiled(&site, "truncated: 8 bytes").await;
}

#[tokio::test]
async fn an_entry_from_another_engine_is_not_run() {
    let site = Site::new();
    warm(&site, "").await;
    let entry = site.entry("hello");
    let mut bytes = std::fs::read(&entry).unwrap();
    use switchyard::{COMPAT_HASH_OFFSET, TRAILER_LEN};
    let compat = bytes.len() - TRAILER_LEN + COMPAT_HASH_OFFSET;
    bytes[compat..compat + 32].fill(0xee);
    std::fs::write(&entry, &bytes).unwrap();
    expect_recompiled(&site, "another wasmtime version or engine configuration").await;
}

#[tokio::test]
async fn another_components_code_under_this_key_is_not_run() {
    let site = Site::new();
    let v2 = route("/v2", "hello-v2");
    warm(&site, &v2).await;
    // hello-v2's whole, valid entry where hello's belongs.
    std::fs::copy(site.entry("hello-v2"), site.entry("hello")).unwrap();
    let v2_digest = digest_hex(&switchyard::digest(
        &std::fs::read(component("hello-v2")).unwrap(),
    ));
    expect_recompiled(
        &site,
        &format!("holds the code of another component (sha256 {v2_digest})"),
    )
    .await;
}

#[tokio::test]
async fn two_servers_writing_the_same_entry_at_once_leave_a_good_one() {
    let site = Site::new();
    // Only the Python component, which compiles for seconds: two servers
    // started together are both still compiling it when either one writes.
    let config = site.dir.path().join("items.toml");
    std::fs::write(&config, route("/py/items", "items")).unwrap();
    let cache = site.cache();
    let args = ["--no-watch", "--cache-dir", cache.to_str().unwrap()];
    // Both started before either is waited for.
    let mut servers = [
        Started::spawn(&config, &args),
        Started::spawn(&config, &args),
    ];
    for server in &mut servers {
        let addr = server.listening(SLOW_START);
        let summed = http1()
            .post(format!("http://{addr}/py/items"))
            .body(r#"{"items": [1, 2]}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(summed.status(), 200);
    }
    for server in &servers {
        // Compiled, not loaded: neither found the other's entry, so both
        // compiled at once and both wrote the entry. A writer that failed
        // (its temporary file taken or removed by the other) would warn.
        stderr_line(server, &[COMPILED, "route=items"]);
        assert!(stderr_lines_with(server, LOADED).is_empty());
        let warnings = stderr_lines_with(server, "WARN");
        assert!(warnings.is_empty(), "{warnings:#?}");
    }
    drop(servers);

    // The one entry and nothing else: no temporary file left behind.
    let items = site.entry("items");
    let mut files: Vec<_> = std::fs::read_dir(engine_folder(&cache))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files, vec![items.clone()]);
    // And it is good: a third server loads it instead of compiling.
    let server = Process::spawn(&config, &args);
    let line = stderr_line(&server, &[LOADED, "route=items"]);
    assert!(line.contains(items.to_str().unwrap()), "{line}");
    assert!(stderr_lines_with(&server, COMPILED).is_empty());
    assert!(stderr_lines_with(&server, "WARN").is_empty());
    let summed = post_text(&http1(), server.url("/py/items"), r#"{"items": [1, 2]}"#).await;
    assert_eq!(summed.0, 200, "{summed:?}");
}

#[tokio::test]
async fn the_size_bound_evicts_the_oldest_entries_and_nothing_else() {
    let site = Site::new();
    // How big hello's entry is, to set a bound it fits in with one filler.
    warm(&site, "").await;
    let entry = site.entry("hello");
    let size = std::fs::metadata(&entry).unwrap().len();
    std::fs::remove_file(&entry).unwrap();

    // Two 1 MiB entries of another engine, 2 h and 1 h old, and a file
    // that is not the cache's.
    const MIB: u64 = 1 << 20;
    let other_engine = site.cache().join("00000000000000aa");
    std::fs::create_dir_all(&other_engine).unwrap();
    let filler = |hex: &str, age_s: u64| {
        let path = other_engine.join(format!("{}.cwasm", hex.repeat(64)));
        std::fs::write(&path, vec![0u8; MIB as usize]).unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(age_s))
            .unwrap();
        path
    };
    let oldest = filler("a", 7200);
    let older = filler("b", 3600);
    let foreign = site.cache().join("notes.txt");
    std::fs::write(&foreign, vec![1u8; MIB as usize]).unwrap();

    // Room for hello's entry and one filler, not two.
    let max_mb = (size + MIB).div_ceil(MIB);
    let config = site.config(
        "",
        &format!("[cache]\ndir = \"cache\"\nmax_mb = {max_mb}\n"),
    );
    let server = Process::spawn(&config, &["--no-watch"]);
    stderr_line(&server, &[COMPILED, "route=hello"]);
    stderr_line(&server, &["evicted=1", &format!("max_mb={max_mb}")]);
    assert!(body(&server, "/hello").await.contains(HELLO));
    assert!(entry.exists());
    assert!(!oldest.exists(), "the oldest entry should be evicted");
    assert!(
        older.exists(),
        "the bound leaves room for the younger filler"
    );
    assert!(
        foreign.exists(),
        "a file that is not an entry is never evicted"
    );
}

/// Set `path`'s modification time to `age` ago.
fn age(path: &Path, age: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

#[tokio::test]
async fn a_cache_hit_marks_its_entry_used_so_eviction_spares_it() {
    let site = Site::new();
    // The sizes of hello's and echo's entries, for a bound that holds
    // those two and nothing more.
    warm(&site, &route("/echo/...", "echo")).await;
    let (hello, echo) = (site.entry("hello"), site.entry("echo"));
    let both = std::fs::metadata(&hello).unwrap().len() + std::fs::metadata(&echo).unwrap().len();
    std::fs::remove_file(&echo).unwrap();

    // A 1 MiB entry (of another engine) unused for an hour, and hello's
    // entry older still: by write time alone, hello's would go first.
    const MIB: u64 = 1 << 20;
    let other_engine = site.cache().join("00000000000000bb");
    std::fs::create_dir_all(&other_engine).unwrap();
    let unused = other_engine.join(format!("{}.cwasm", "c".repeat(64)));
    std::fs::write(&unused, vec![0u8; MIB as usize]).unwrap();
    age(&unused, Duration::from_secs(3600));
    age(&hello, Duration::from_secs(7200));

    // A start that loads hello's entry: a hit, which marks it used now.
    let server = site.start("", &[]);
    stderr_line(&server, &[LOADED, "route=hello"]);
    drop(server);
    let since_hit = SystemTime::now()
        .duration_since(modified(&hello))
        .unwrap_or_default();
    assert!(
        since_hit < Duration::from_secs(600),
        "a hit must refresh its entry's time; it is {since_hit:?} old"
    );

    // A new entry (echo's) takes the cache over a bound that holds hello's
    // and echo's but not the unused one too: the least recently used goes.
    let max_mb = both.div_ceil(MIB);
    let config = site.config(
        &route("/echo/...", "echo"),
        &format!("[cache]\ndir = \"cache\"\nmax_mb = {max_mb}\n"),
    );
    let server = Process::spawn(&config, &["--no-watch"]);
    stderr_line(&server, &[COMPILED, "route=echo"]);
    let evicted = stderr_line(&server, &["evicted the least recently used entries"]);
    assert!(
        hello.exists(),
        "hello's entry, used more recently than the other one, was evicted"
    );
    assert!(
        !unused.exists(),
        "the least recently used entry was not evicted: {evicted}"
    );
    assert!(echo.exists());
    assert!(evicted.contains("evicted=1"), "{evicted}");
    assert!(body(&server, "/hello").await.contains(HELLO));
}

#[tokio::test]
async fn an_unwritable_cache_dir_serves_with_one_warning() {
    let site = Site::new();
    // A directory cannot be created under a regular file (even as root).
    let blocker = site.dir.path().join("blocker");
    std::fs::write(&blocker, b"").unwrap();
    let cache = blocker.join("cache");
    let config = site.config("", "");
    let server = Process::spawn(
        &config,
        &["--no-watch", "--cache-dir", cache.to_str().unwrap()],
    );
    let warning = stderr_line(&server, &["WARN", "no compile cache: cannot write to"]);
    assert!(warning.contains(cache.to_str().unwrap()), "{warning}");
    stderr_line(&server, &[COMPILED, "route=hello"]);
    assert!(body(&server, "/hello").await.contains(HELLO));
    assert_eq!(stderr_lines_with(&server, "WARN").len(), 1);
}

#[tokio::test]
async fn a_read_only_cache_dir_loads_its_entries_and_writes_nothing() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let site = Site::new();
    warm(&site, "").await;
    let engine = engine_folder(&site.cache());
    // What a container image ships: a filled cache nobody may write to.
    // Root writes through permission bits, so as root the server runs as
    // `nobody` (the site must then be readable by others).
    let chmod = |path: &Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    chmod(site.dir.path(), 0o755);
    for entry in entries(&site.cache()) {
        chmod(&entry, 0o444);
    }
    chmod(&engine, 0o555);
    chmod(&site.cache(), 0o555);
    let listing = || {
        let mut files: Vec<_> = std::fs::read_dir(&engine)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name(), e.metadata().unwrap().modified().unwrap())
            })
            .collect();
        files.sort();
        files
    };
    let before = listing();

    let config = site.config(&route("/echo/...", "echo"), "");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cache = site.cache();
    let args = ["--no-watch", "--cache-dir", cache.to_str().unwrap()];
    let as_root = std::fs::metadata(site.dir.path()).unwrap().uid() == 0;
    let server = if as_root {
        let nobody = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ];
        Process::spawn_wrapped(&nobody, &config, &args)
    } else {
        Process::spawn(&config, &args)
    };
    let warning = stderr_line(&server, &["WARN", "is read-only"]);
    assert!(warning.contains(engine.to_str().unwrap()), "{warning}");
    stderr_line(&server, &[LOADED, "route=hello"]);
    stderr_line(&server, &[COMPILED, "route=echo"]);
    assert!(body(&server, "/hello").await.contains(HELLO));
    let echoed = post_text(&http1(), server.url("/echo/x"), "read-only").await;
    assert_eq!(echoed, (200, "read-only".to_string()));
    assert_eq!(stderr_lines_with(&server, "WARN").len(), 1);
    drop(server);
    assert_eq!(listing(), before, "nothing written, touched or deleted");
    // The temporary folder's cleanup needs to write again.
    chmod(&site.cache(), 0o755);
    chmod(&engine, 0o755);
}

#[tokio::test]
async fn no_cache_neither_reads_nor_writes() {
    let site = Site::new();
    let server = site.start("", &["--no-cache"]);
    stderr_line(&server, &["compile cache disabled"]);
    stderr_line(&server, &[COMPILED, "route=hello"]);
    assert!(body(&server, "/hello").await.contains(HELLO));
    drop(server);
    assert_eq!(entries(&site.cache()), Vec::<PathBuf>::new());

    // A warm entry is not read either.
    warm(&site, "").await;
    let server = site.start("", &["--no-cache"]);
    stderr_line(&server, &[COMPILED, "route=hello"]);
    assert!(stderr_lines_with(&server, LOADED).is_empty());
}

#[tokio::test]
async fn enabled_false_in_the_config_neither_reads_nor_writes() {
    let site = Site::new();
    let disabled = "[cache]\nenabled = false\ndir = \"cache\"\n";
    // A good entry in the dir is not read (nor touched).
    warm(&site, "").await;
    let entry = site.entry("hello");
    age(&entry, Duration::from_secs(3600));
    let aged = modified(&entry);
    let server = Process::spawn(&site.config("", disabled), &["--no-watch"]);
    stderr_line(&server, &["compile cache disabled"]);
    stderr_line(&server, &[COMPILED, "route=hello"]);
    assert!(stderr_lines_with(&server, LOADED).is_empty());
    assert!(body(&server, "/hello").await.contains(HELLO));
    drop(server);
    assert_eq!(modified(&entry), aged, "the entry was touched");

    // And nothing is written to an empty one.
    std::fs::remove_dir_all(site.cache()).unwrap();
    let server = Process::spawn(&site.config("", disabled), &["--no-watch"]);
    stderr_line(&server, &["compile cache disabled"]);
    stderr_line(&server, &[COMPILED, "route=hello"]);
    assert!(body(&server, "/hello").await.contains(HELLO));
    drop(server);
    assert_eq!(entries(&site.cache()), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn the_cache_dir_flag_and_variable_override_the_config_dir() {
    for way in ["--cache-dir", "SWITCHYARD_CACHE_DIR"] {
        let site = Site::new();
        let chosen = site.dir.path().join("chosen");
        let (from_config, xdg) = (
            site.dir.path().join("from-config"),
            site.dir.path().join("xdg"),
        );
        let config = site.config("", "[cache]\ndir = \"from-config\"\n");
        let chosen_text = chosen.to_str().unwrap();
        let xdg_home = ("XDG_CACHE_HOME", xdg.to_str().unwrap());
        let server = if way == "--cache-dir" {
            Process::spawn_env(&config, &["--no-watch", way, chosen_text], &[xdg_home])
        } else {
            Process::spawn_env(&config, &["--no-watch"], &[xdg_home, (way, chosen_text)])
        };
        stderr_line(&server, &[COMPILED, "route=hello"]);
        assert!(body(&server, "/hello").await.contains(HELLO));
        drop(server);
        let name = std::ffi::OsString::from(entry_name("hello"));
        let written: Vec<_> = entries(&chosen)
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(written, vec![name], "{way}: the entry goes under its dir");
        assert_eq!(
            entries(&from_config),
            Vec::<PathBuf>::new(),
            "{way}: not the config's dir"
        );
        let default = xdg.join("switchyard/compiled");
        assert_eq!(
            entries(&default),
            Vec::<PathBuf>::new(),
            "{way}: not the default dir"
        );
    }
}

#[tokio::test]
async fn a_reload_to_bytes_compiled_before_loads_them_from_the_cache() {
    let site = Site::new();
    // An earlier start compiled hello-v2 (and hello) into the cache.
    warm(&site, &route("/v2", "hello-v2")).await;
    // A watching server runs its own copy of hello...
    let file = site.dir.path().join("swapped.wasm");
    std::fs::copy(component("hello"), &file).unwrap();
    let config = site.dir.path().join("watching.toml");
    std::fs::write(
        &config,
        format!(
            "[[route]]\npath = \"/hello\"\nname = \"swapped\"\ncomponent = \"{}\"\n",
            file.display()
        ),
    )
    .unwrap();
    let cache = site.cache();
    let server = Process::spawn(&config, &["--cache-dir", cache.to_str().unwrap()]);
    stderr_line(&server, &[LOADED, "route=swapped"]);
    assert!(body(&server, "/hello").await.contains(HELLO));

    // ...which is then rebuilt as hello-v2 (written aside, renamed over).
    let aside = site.dir.path().join("swapped.wasm.tmp");
    std::fs::copy(component("hello-v2"), &aside).unwrap();
    std::fs::rename(&aside, &file).unwrap();
    stderr_line(&server, &["route 'swapped' reloaded: generation 1 → 2"]);
    let v2_entry = site.entry("hello-v2");
    stderr_line(
        &server,
        &[LOADED, "route=swapped", v2_entry.to_str().unwrap()],
    );
    let compiled = stderr_lines_with(&server, COMPILED);
    assert!(compiled.is_empty(), "the reload compiled: {compiled:#?}");
    let (_, generation, text) = get_generation(&http1(), server.url("/hello")).await;
    assert_eq!(generation, "2");
    assert!(
        text.starts_with("Hello again from Switchyard (v2)!"),
        "{text}"
    );
}
