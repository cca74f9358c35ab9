//! The `switchyard` command: parse the command line, set up logging, load the
//! config and every handler, bind, and serve until SIGINT or SIGTERM.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use switchyard::{admin, Config, Host, ServerOptions};

/// Serve HTTP from WebAssembly components (wasi:http/proxy).
#[derive(Parser)]
#[command(name = "switchyard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format: `human` lines or one JSON object per line. Filter with
    /// RUST_LOG (e.g. `RUST_LOG=info,switchyard::access=warn`).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = LogFormat::Human,
        env = "SWITCHYARD_LOG_FORMAT",
        value_name = "FORMAT"
    )]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

/// `--admin-listen`: an address, or `none`.
#[derive(Clone, Copy)]
struct AdminListen(Option<SocketAddr>);

impl std::str::FromStr for AdminListen {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "none" => Ok(AdminListen(None)),
            _ => value
                .parse()
                .map(|addr| AdminListen(Some(addr)))
                .map_err(|_| format!("expected IP:PORT or `none`, got {value:?}")),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the routes of a config file.
    Serve(ServeArgs),
    /// Check that this host can serve each component: shows its world,
    /// imports and exports, and every import the host cannot satisfy. Exits
    /// 0 only if every file can be served.
    Check(CheckArgs),
    /// Run the build commands of the config's routes and middleware
    /// (`[route.build]`), all of them or the named ones; exits non-zero
    /// naming each that failed.
    Build(BuildArgs),
    /// Write the WIT handlers are built against (Switchyard's worlds and
    /// the exact WASI packages this host links) into a folder, for a
    /// project outside this repository.
    Wit(WitArgs),
}

/// `--config`, shared by the subcommands that read a config file.
#[derive(clap::Args)]
struct ConfigFile {
    /// The config file.
    #[arg(
        long = "config",
        short = 'c',
        env = "SWITCHYARD_CONFIG",
        default_value = "switchyard.toml",
        value_name = "CONFIG"
    )]
    path: PathBuf,
}

#[derive(clap::Args)]
struct BuildArgs {
    #[command(flatten)]
    config: ConfigFile,
    /// Routes or middleware to build (default: every one with a build table).
    #[arg(value_name = "NAME")]
    names: Vec<String>,
}

#[derive(clap::Args)]
struct WitArgs {
    /// The folder to write (created if missing; files of the same names
    /// are replaced, others left alone).
    #[arg(long, default_value = "wit", value_name = "DIR")]
    out: PathBuf,
}

#[derive(clap::Args)]
struct CheckArgs {
    /// The `.wasm` files to check.
    #[arg(required = true, value_name = "FILE.wasm")]
    files: Vec<PathBuf>,
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    config: ConfigFile,
    /// Address to listen on (IP:PORT; port 0 picks a free port). Overrides
    /// the config file's `listen`; default 127.0.0.1:8080.
    #[arg(long, short, env = "SWITCHYARD_LISTEN")]
    listen: Option<SocketAddr>,
    /// Do not watch the config file and components for changes (SIGHUP
    /// still reloads).
    #[arg(long)]
    no_watch: bool,
    /// Directory for compiled components. Overrides the config file's
    /// `[cache] dir`; default $XDG_CACHE_HOME/switchyard/compiled, else
    /// ~/.cache/switchyard/compiled.
    #[arg(long, env = "SWITCHYARD_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Neither read nor write the compile cache: compile every component.
    #[arg(long)]
    no_cache: bool,
    /// Seconds in-flight requests get to finish after SIGINT/SIGTERM.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    shutdown_timeout: u64,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs
    /// --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Address of the admin listener (/metrics, /healthz, /readyz, and the
    /// /admin API when a token is set), or `none`.
    #[arg(
        long,
        env = "SWITCHYARD_ADMIN_LISTEN",
        default_value = "127.0.0.1:9091",
        value_name = "ADDR"
    )]
    admin_listen: AdminListen,
    /// Set KEY to VALUE in the `default` key-value store before serving
    /// (repeatable), as `spin up --key-value` does.
    #[arg(long = "key-value", value_name = "KEY=VALUE", value_parser = key_value)]
    key_values: Vec<(String, String)>,
}

/// `--key-value KEY=VALUE`: split at the first `=`.
fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) => Ok((key.to_string(), value.to_string())),
        None => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Lines queue for a writer thread, so a slow stderr never blocks a
    // request (see telemetry/log_writer.rs).
    let (writer, log_guard) = switchyard::log_writer::stderr();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match cli.log_format {
        LogFormat::Human => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Check(args) => Ok(check(args)),
        Command::Wit(args) => wit(args),
        Command::Build(args) => build(args),
    };
    // What is queued is written out before the last word.
    drop(log_guard);
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn build(args: BuildArgs) -> anyhow::Result<std::process::ExitCode> {
    let config = Config::load(&args.config.path)?;
    let targets = switchyard::build::targets(&config, &args.names).map_err(anyhow::Error::msg)?;
    if targets.is_empty() {
        anyhow::bail!(
            "no route or middleware in {} has a [route.build] table",
            config.file.display()
        );
    }
    let mut failed = Vec::new();
    for target in &targets {
        println!("building {}: {}", target.label, target.build.command);
        let built = switchyard::build::run(target);
        let took = built.took.as_secs_f64();
        match built.failure {
            None => println!("{}: built in {took:.1} s", built.label),
            Some(why) => {
                println!("{}: build failed after {took:.1} s: {why}", built.label);
                failed.push(built.label);
            }
        }
    }
    if !failed.is_empty() {
        anyhow::bail!("build failed: {}", failed.join(", "));
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn wit(args: WitArgs) -> anyhow::Result<std::process::ExitCode> {
    let written = switchyard::wit::write(&args.out)?;
    println!(
        "wrote {} WIT files to {}",
        written.len(),
        args.out.display()
    );
    Ok(std::process::ExitCode::SUCCESS)
}

fn serve(args: ServeArgs) -> anyhow::Result<std::process::ExitCode> {
    let config = Config::load(&args.config.path)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(switchyard::tls::acceptor(cert, key)?),
        _ => None,
    };
    let url_scheme = if tls.is_some() { "https" } else { "http" };
    let token = admin::Token::resolve(std::env::var_os(admin::token::TOKEN_ENV), &config.admin)?;
    let listen = args
        .listen
        .or(config.listen)
        .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default address"));
    // After the checks that fail start-up with one line, before any connection.
    raise_open_file_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        // First, so /healthz answers (and /readyz says 503) while routes load.
        let (admin, admin_address) = match args.admin_listen.0 {
            Some(address) => {
                let (admin, address) = start_admin(address, &config, token).await?;
                (Some(admin), Some(address))
            }
            None => (None, None),
        };
        let mut cache = config.cache.clone();
        if let Some(dir) = args.cache_dir {
            cache.dir = Some(dir);
        }
        cache.enabled &= !args.no_cache;
        // The pool has a slot per server slot: admission counts instances.
        let instances = config.server.max_concurrent_requests as u32;
        let host = Arc::new(Host::with_pool(
            &cache,
            instances,
            config.server.guard_pages,
        )?);
        let service = switchyard::load(host.clone(), &config)?;
        if !args.key_values.is_empty() {
            service
                .registry()
                .stores()
                .seed(&config.key_value_stores, &args.key_values)
                .await
                .context("seeding the default key-value store")?;
            tracing::info!(
                keys = args.key_values.len(),
                "seeded the default key-value store"
            );
        }
        // Guests must not reach the admin API (serve() adds the main listener).
        let _admin_own = admin_address.map(|address| host.own_addresses().hold(address));
        if let Some(admin) = &admin {
            admin.ready(service.registry().clone());
        }
        let _reload = switchyard::watch(&service, &config, !args.no_watch);
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let address = listener.local_addr().context("reading the bound address")?;
        // Handlers first: a SIGTERM right after the line below must drain,
        // not kill the process with the default disposition.
        let shutdown = shutdown_signal().context("installing signal handlers")?;
        println!("listening on {url_scheme}://{address}");
        let options = ServerOptions {
            shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
            limits: config.server.clone(),
            tls,
        };
        switchyard::serve(listener, service, options, shutdown).await
    })?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// `switchyard check`: a report per file on stdout; exit 0 only if every
/// file can be served, 1 if any cannot (or the host cannot start).
fn check(args: CheckArgs) -> std::process::ExitCode {
    let host = match Host::new() {
        Ok(host) => host,
        Err(error) => {
            eprintln!("error: {error:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut servable = 0;
    for file in &args.files {
        let report = switchyard::check::check(&host, file);
        servable += usize::from(report.servable());
        print!("{report}");
    }
    println!("{servable} of {} files can be served", args.files.len());
    if servable == args.files.len() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// Bind the admin listener, announce it, and serve it in the background;
/// returns the address it is bound to.
async fn start_admin(
    address: SocketAddr,
    config: &Config,
    token: Option<admin::Token>,
) -> anyhow::Result<(Arc<admin::Admin>, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} (--admin-listen)"))?;
    let address = listener.local_addr().context("reading the admin address")?;
    if token.is_none() {
        tracing::info!(
            "admin API off: set {} or `[admin] token_file` to enable /admin",
            admin::token::TOKEN_ENV
        );
    }
    let admin = Arc::new(admin::Admin::new(config, token));
    println!("admin listening on http://{address}");
    tokio::spawn(admin::serve(listener, admin.clone()));
    Ok((admin, address))
}

/// Raise the soft open-file limit to the hard one: every connection is a
/// descriptor, and the usual soft default (1024) would let a few hundred
/// idle clients exhaust them. `[server] max_connections` is sized to the
/// result, less a reserve (`serve/limit.rs`).
fn raise_open_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    // No hard limit: Linux still caps descriptors at `fs.nr_open` (1 Mi by default).
    let target = limit.maximum.unwrap_or(1 << 20);
    let Some(current) = limit.current.filter(|&current| current < target) else {
        tracing::debug!(open_files = ?limit.current, "open-file limit");
        return;
    };
    let raised = Rlimit {
        current: Some(target),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => tracing::info!(from = current, to = target, "open-file limit raised"),
        Err(error) => tracing::warn!(
            soft = current,
            hard = target,
            "cannot raise the open-file limit: {error}"
        ),
    }
}

/// Install SIGINT and SIGTERM handlers now; the future resolves on the
/// first of them.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
        }
    })
}
