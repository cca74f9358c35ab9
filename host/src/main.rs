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
    /// Start a project, or add a handler to one from a template.
    #[command(subcommand)]
    New(NewCommand),
    /// Build every route, serve, and rebuild a route whenever its sources
    /// (`[route.build] watch`) change: the running server swaps the new
    /// version in without dropping a request, and a failed build keeps
    /// the previous version serving. Takes every `serve` option.
    Dev(ServeArgs),
}

#[derive(Subcommand)]
enum NewCommand {
    /// A new project in DIR: a commented switchyard.toml, the WIT
    /// handlers build against, handlers/tools.sh, .gitignore and a README.
    App {
        /// The folder to create (it must not exist, or be empty).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// A handler from LANG's template in handlers/NAME/, and its [[route]]
    /// (with its [route.build]) appended to the project's config.
    Handler(NewHandlerArgs),
}

#[derive(clap::Args)]
struct NewHandlerArgs {
    #[command(flatten)]
    config: ConfigFile,
    /// The template's language.
    #[arg(value_name = "LANG", value_parser = languages())]
    language: String,
    /// The handler's name: its folder, route name and .wasm.
    #[arg(value_name = "NAME")]
    name: String,
    /// The route's path (default /NAME); a prefix as `/api/...`.
    #[arg(long, value_name = "PATH")]
    route: Option<String>,
}

/// Every template's language, with its description for `--help`.
fn languages() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        switchyard::scaffold::Template::all()
            .into_iter()
            .map(|t| clap::builder::PossibleValue::new(t.language).help(t.description)),
    )
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
    admin_listen: admin::Listen,
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
        Command::Check(args) => Ok(switchyard::check::run(&args.files)),
        Command::Wit(args) => wit(args),
        Command::Build(args) => build(args),
        Command::New(command) => new(command),
        Command::Dev(args) => dev(args),
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
    let failed = switchyard::build::run_all(&targets);
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

fn new(command: NewCommand) -> anyhow::Result<std::process::ExitCode> {
    match command {
        NewCommand::App { dir } => print!("{}", switchyard::scaffold::new_app(&dir)?),
        NewCommand::Handler(args) => print!(
            "{}",
            switchyard::scaffold::new_handler(
                &args.config.path,
                &args.language,
                &args.name,
                args.route.as_deref(),
            )?
        ),
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// `switchyard dev`: build everything once, then serve with the rebuild loop.
fn dev(args: ServeArgs) -> anyhow::Result<std::process::ExitCode> {
    let config = Config::load(&args.config.path)?;
    let targets = switchyard::build::targets(&config, &[]).map_err(anyhow::Error::msg)?;
    if targets.is_empty() {
        tracing::warn!(
            "no route in {} has a [route.build] table: serving without rebuilding",
            config.file.display()
        );
    }
    let failed = switchyard::build::run_all(&targets);
    if !failed.is_empty() {
        tracing::warn!(
            "build failed: {}; serving what was built before (fix it and save: it rebuilds)",
            failed.join(", ")
        );
    }
    serve_with(args, config, Some(targets))
}

fn serve(args: ServeArgs) -> anyhow::Result<std::process::ExitCode> {
    let config = Config::load(&args.config.path)?;
    serve_with(args, config, None)
}

/// Serve `config`; with `dev`, rebuild those targets when their sources change.
fn serve_with(
    args: ServeArgs,
    config: Config,
    dev: Option<Vec<switchyard::build::Target>>,
) -> anyhow::Result<std::process::ExitCode> {
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
    switchyard::process::raise_open_file_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        // First, so /healthz answers (and /readyz says 503) while routes load.
        let (admin, admin_address) = match args.admin_listen.0 {
            Some(address) => {
                let (admin, address) = admin::start(address, &config, token).await?;
                (Some(admin), Some(address))
            }
            None => (None, None),
        };
        // After the metrics recorder (the admin listener), so its losses count.
        let traces =
            switchyard::trace::export::start(&config.telemetry).context("starting trace export")?;
        if let Some(traces) = &traces {
            tracing::info!(endpoint = %traces.endpoint(), "exporting traces over OTLP");
        }
        let mut cache = config.cache.clone();
        if let Some(dir) = args.cache_dir {
            cache.dir = Some(dir);
        }
        cache.enabled &= !args.no_cache;
        // Under `dev`, a rebuilt component recompiles only what changed.
        cache.incremental = dev.is_some();
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
        let (reloader, _reload) = switchyard::watch(&service, &config, !args.no_watch);
        let _dev = match dev {
            Some(targets) => Some(switchyard::dev::start(
                targets,
                &config,
                reloader,
                service.registry().clone(),
            )?),
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let address = listener.local_addr().context("reading the bound address")?;
        // Handlers first: a SIGTERM right after the line below must drain,
        // not kill the process with the default disposition.
        let shutdown =
            switchyard::process::shutdown_signal().context("installing signal handlers")?;
        println!("listening on {url_scheme}://{address}");
        let options = ServerOptions {
            shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
            limits: config.server.clone(),
            tls,
        };
        let served = switchyard::serve(listener, service, options, shutdown).await;
        if let Some(traces) = traces {
            // The last requests' spans, sent while the runtime still runs.
            let flushed = tokio::task::spawn_blocking(move || {
                traces.shutdown(Duration::from_secs(5));
            });
            let _ = flushed.await;
        }
        served
    })?;
    Ok(std::process::ExitCode::SUCCESS)
}
