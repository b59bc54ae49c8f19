//! The `plughost` command: parses the CLI, sets up logging, hands off to the library.
//!
//! - `plughost serve` — serve a manifest's plugins over HTTP with live reload;
//! - `plughost check` — load a manifest and every plugin, print the routes, exit non-zero
//!   with a clear error if anything is wrong (use it in CI before deploying);
//! - `plughost lambda` — serve Lambda invocations (API Gateway, Function URL, ALB); also
//!   what `plughost` with no command does inside Lambda (`AWS_LAMBDA_RUNTIME_API` set), so
//!   the binary deploys unchanged as `bootstrap`;
//! - `plughost deploy | push | status | rollback` — operate a deployment in S3
//!   (`cli/operator.rs`).

// The serve future nests the request path's instrumented futures (spans around
// routing, instantiation, calls): deeper than the compiler's default layout query limit.
#![recursion_limit = "256"]

use bytesize::ByteSize;
use clap::{Args, Parser, Subcommand};
use plughost::capability::config::secrets::SecretSource;
use plughost::cli::operator::Operator;
use plughost::observability::logging::{self, LogFormat};
use plughost::observability::telemetry::RecentLogs;
use plughost::runtime::deployment::{DeploymentStore, Location};
use plughost::runtime::source::ManifestSource;
use plughost::serve::{ServeOptions, bind, serve, shutdown_signal};
use plughost::spec::manifest::{Digest, PluginId};
use plughost::{App, Capabilities, EngineSettings, PluginEngine};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "plughost", version, about = "WebAssembly plugins behind one HTTP entry point")]
struct Cli {
    /// Log line format [default: json in Lambda (CloudWatch), text elsewhere].
    #[arg(long, global = true, value_enum, env = "PLUGHOST_LOG_FORMAT")]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the manifest's plugins over HTTP; reload when the manifest or a plugin changes.
    Serve {
        #[command(flatten)]
        host: HostArgs,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080", env = "PLUGHOST_LISTEN")]
        listen: SocketAddr,
        /// Do not watch files for changes.
        #[arg(long)]
        no_watch: bool,
        /// Where clients reach this server: the base of URLs embedded storage hands out
        /// (presigned URLs; default: `http://<listen>`).
        #[arg(long, env = "PLUGHOST_PUBLIC_URL")]
        public_url: Option<String>,
    },
    /// Load the manifest and every plugin, print the routes, and exit.
    Check {
        #[command(flatten)]
        host: HostArgs,
    },
    /// Run one plugin's task on a JSON input and print its JSON output — what a Step
    /// Functions `Task` state does in AWS — on the same storage `serve` uses.
    Invoke {
        /// The plugin, e.g. order-worker.
        plugin: String,
        /// The task's input: JSON text, or `-` to read it from stdin.
        #[arg(long, default_value = "{}")]
        input: String,
        #[command(flatten)]
        host: HostArgs,
    },
    /// Print the manifest's event sources and triggers as Terraform variables (JSON for
    /// `terraform apply -var-file`): queues, topics, buses, triggers.
    Tfvars {
        /// The manifest, e.g. plughost.toml.
        manifest: PathBuf,
    },
    /// Fire an event at a running `plughost serve` (queue message, topic notification, bus
    /// event, schedule, object or store change), or show its queues and dead letters.
    Trigger(plughost::cli::trigger::TriggerArgs),
    /// Serve AWS Lambda invocations (the default inside Lambda).
    Lambda {
        #[command(flatten)]
        host: HostArgs,
    },
    #[command(flatten)]
    Operate(Operation),
}

/// The operator's commands on a deployment in S3.
#[derive(Subcommand)]
enum Operation {
    /// Deploy a whole local manifest: check and upload every component, then make the
    /// deployment serve it (routes, grants, config, limits).
    Deploy {
        /// The local manifest (`source` paths), e.g. plughost.toml.
        local_manifest: PathBuf,
        #[command(flatten)]
        deployment: DeploymentArg,
    },
    /// Check a component, upload it by digest and point one deployed plugin at it.
    Push {
        /// The component (.wasm) to deploy.
        component: PathBuf,
        /// The plugin it is a new version of.
        #[arg(long)]
        plugin: String,
        #[command(flatten)]
        deployment: DeploymentArg,
    },
    /// Show the live deployment: plugins, digests, routes, grants, history.
    Status {
        #[command(flatten)]
        deployment: DeploymentArg,
    },
    /// Point a plugin back at its previous component, or at the one given.
    Rollback {
        plugin: String,
        /// The digest to go back to (`sha256:...`, see `plughost status`).
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        deployment: DeploymentArg,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CompileMode {
    Eager,
    Lazy,
}

/// The deployment an operator command works on.
#[derive(Args)]
struct DeploymentArg {
    /// The deployed manifest: s3://<bucket>/<key> (components are stored beside it).
    #[arg(long = "manifest", env = "PLUGHOST_MANIFEST", value_name = "s3://BUCKET/KEY")]
    location: String,
}

impl DeploymentArg {
    async fn operator(&self) -> anyhow::Result<Operator> {
        let location = Location::parse(&self.location).map_err(anyhow::Error::msg)?;
        let engine = PluginEngine::new(EngineSettings::default())?;
        Ok(Operator::new(DeploymentStore::from_env(location).await, Arc::new(engine)))
    }
}

/// `HostArgs` from the environment alone (what the Lambda runtime gives `bootstrap`).
#[derive(Parser)]
struct LambdaDefaults {
    #[command(flatten)]
    host: HostArgs,
}

#[derive(Args)]
struct HostArgs {
    /// The manifest to serve: a file, or a deployment in S3 (s3://<bucket>/<key>).
    #[arg(long, default_value = "plughost.toml", env = "PLUGHOST_MANIFEST", value_name = "FILE|s3://BUCKET/KEY")]
    manifest: String,
    /// When components are compiled: `eager` — all of them before a version goes live (a
    /// component that does not compile never serves); `lazy` — each on its first request
    /// (faster cold starts without a compiled cache; such a component then answers 503).
    #[arg(long, value_enum, default_value = "eager", env = "PLUGHOST_COMPILE")]
    compile: CompileMode,
    /// Signs compiled components shared through a deployment's bucket, so cold starts
    /// anywhere deserialize instead of compiling (>= 32 characters; keep it secret: whoever
    /// has it can make hosts run native code). Unset: nothing is shared.
    #[arg(long, env = "PLUGHOST_ARTIFACT_KEY", hide_env_values = true)]
    artifact_key: Option<String>,
    /// Refuse manifests declaring a store or container the storage map does not bind
    /// (default in Lambda, where embedded storage would be lost with the instance).
    #[arg(skip)]
    require_storage_bindings: bool,
    /// How often a deployment in S3 is checked for a new version (one conditional GET).
    #[arg(long, default_value = "2s", env = "PLUGHOST_REFRESH", value_parser = humantime::parse_duration)]
    refresh: Duration,
    /// Largest request body accepted (larger gets 413).
    #[arg(long, default_value = "6MiB", env = "PLUGHOST_MAX_BODY")]
    max_body: ByteSize,
    /// Plugin instances that can run at once (beyond it requests queue, then get 503).
    #[arg(long, default_value_t = EngineSettings::default().max_instances, env = "PLUGHOST_MAX_INSTANCES")]
    max_instances: u32,
    /// The most the running instances' `max_memory` may add up to [default: in Lambda the
    /// function's memory size less 64 MiB, elsewhere half the machine's memory].
    #[arg(long, env = "PLUGHOST_MEMORY_BUDGET")]
    memory_budget: Option<ByteSize>,
    /// How long a request waits for its plugin's concurrency cap, an instance slot or the
    /// memory budget before it is refused with 503 (never past its deadline).
    #[arg(long, default_value = "2s", env = "PLUGHOST_QUEUE_TIMEOUT", value_parser = humantime::parse_duration)]
    queue_timeout: Duration,
    /// Ceiling for any plugin's `max_memory`.
    #[arg(long, default_value = "256MiB", env = "PLUGHOST_MAX_MEMORY_PER_INSTANCE")]
    max_memory_per_instance: ByteSize,
    /// Where embedded backends keep their files (one file or folder per capability).
    #[arg(long, default_value = ".plughost", env = "PLUGHOST_DATA_DIR")]
    data_dir: PathBuf,
    /// The operator's storage map: binds labels to AWS resources, per capability (e.g. a
    /// store to a DynamoDB table; others stay embedded; in Lambda every declared one must be
    /// bound). A TOML file, or the same map inline as JSON.
    #[arg(long, env = "PLUGHOST_STORAGE", value_name = "FILE|JSON")]
    storage: Option<String>,
    /// Where compiled components are kept, so restarts skip compiling (default:
    /// `<data-dir>/compiled`).
    #[arg(long, env = "PLUGHOST_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Where `{ secret = "name" }` config values come from: a TOML file of
    /// `name = "value"`, or `aws-secrets-manager:` followed by an optional name prefix.
    #[arg(long, env = "PLUGHOST_SECRETS", value_name = "FILE|aws-secrets-manager:[PREFIX]")]
    secrets: Option<String>,
}

impl HostArgs {
    /// Loads the app; `lambda`: metrics also as EMF lines, one batch per invocation.
    async fn load(&self, public_url: &str, lambda: bool) -> anyhow::Result<Arc<App>> {
        let cache_dir = self.cache_dir.clone().unwrap_or_else(|| self.data_dir.join("compiled"));
        let defaults = EngineSettings::default();
        let engine = PluginEngine::new(EngineSettings {
            max_instances: self.max_instances,
            max_memory_per_instance: self.max_memory_per_instance.as_u64(),
            memory_budget: self.memory_budget.map_or(defaults.memory_budget, |b| b.as_u64()),
            queue_timeout: self.queue_timeout,
            ..defaults
        })?
        .with_artifact_cache(cache_dir)
        .with_lazy_compilation(self.compile == CompileMode::Lazy)
        .with_embedded_metric_format(lambda);
        let max_body = usize::try_from(self.max_body.as_u64()).unwrap_or(usize::MAX);
        let mut capabilities = Capabilities::open(&self.data_dir, public_url, self.storage.as_deref()).await?;
        if self.require_storage_bindings {
            capabilities = capabilities.requiring_bindings();
        }
        if let Some(source) = &self.secrets {
            capabilities = capabilities.with_secrets(SecretSource::from_arg(source).await);
        }
        let source = ManifestSource::from_arg(&self.manifest, self.artifact_key.as_deref()).await?;
        Ok(Arc::new(App::load_from(Arc::new(engine), capabilities, source, max_body).await?))
    }
}

fn main() -> ExitCode {
    return_large_buffers_to_the_os();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let command = match cli.command {
        Some(command) => command,
        // Inside Lambda the runtime starts `bootstrap` with no arguments.
        None if plughost::platform::environment::in_function() => {
            Command::Lambda { host: LambdaDefaults::parse_from(["plughost"]).host }
        }
        None => {
            eprintln!("error: no command given (try `plughost serve`, or `plughost --help`)");
            return ExitCode::FAILURE;
        }
    };
    let default_format = if matches!(command, Command::Lambda { .. }) { LogFormat::Json } else { LogFormat::Text };
    // The console's log view (serve only): the lines the terminal shows, kept per plugin.
    let recent = matches!(command, Command::Serve { .. }).then(RecentLogs::default);
    // A server's lines are buffered (its request path makes no system call to log them);
    // Lambda's are written before each invocation answers, the short commands' at once.
    let buffered = matches!(command, Command::Serve { .. });
    logging::init(cli.log_format.unwrap_or(default_format), recent.clone(), buffered);
    let outcome = runtime.block_on(run(command, recent.unwrap_or_default()));
    logging::flush();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, recent_logs: RecentLogs) -> anyhow::Result<()> {
    match command {
        Command::Serve { host, listen, no_watch, public_url } => {
            let listener = bind(listen).await?;
            let public_url = public_url.unwrap_or_else(|| default_public_url(listener.local_addr().unwrap_or(listen)));
            let app = host.load(&public_url, false).await?;
            let events = Some(app.capabilities().local_events().get().await?.clone());
            let options = ServeOptions { watch: !no_watch, refresh: host.refresh, events, recent_logs };
            serve(listener, app, options, shutdown_signal()).await
        }
        Command::Lambda { mut host } => {
            // Lambda's only writable place is /tmp; the default data dir would be in the
            // read-only package.
            if std::env::var_os("PLUGHOST_DATA_DIR").is_none() && host.data_dir == std::path::Path::new(".plughost") {
                host.data_dir = PathBuf::from("/tmp/plughost");
            }
            host.require_storage_bindings = std::env::var("PLUGHOST_ALLOW_EMBEDDED_STORAGE").as_deref() != Ok("1");
            // Nothing is served by this process over HTTP; embedded presigned URLs (if any
            // container is left embedded) cannot be answered, and say so by their host.
            let app = host.load("http://embedded-storage.invalid", true).await?;
            plughost::lambda::run(app, host.refresh).await
        }
        Command::Trigger(args) => plughost::cli::trigger::run(args).await,
        Command::Tfvars { manifest } => {
            let manifest = plughost::spec::manifest::Manifest::load(
                &manifest,
                &EngineSettings::default().limit_bounds(),
                &plughost::capability::sections(),
            )?;
            println!("{}", serde_json::to_string_pretty(&plughost::cli::tfvars::terraform_vars(&manifest))?);
            Ok(())
        }
        Command::Operate(operation) => {
            exit_quietly_on_broken_pipe();
            operate(operation).await
        }
        Command::Invoke { plugin, input, host } => {
            let text = if input == "-" { std::io::read_to_string(std::io::stdin())? } else { input };
            let input: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("--input is not JSON: {e}"))?;
            let app = host.load("http://127.0.0.1", false).await?;
            let invocation = format!("local-{}", uuid::Uuid::new_v4().simple());
            let output = plughost::task::run(&app, &plugin, &input, &invocation, None)
                .await
                .map_err(|failure| anyhow::anyhow!("task failed: {failure}"))?;
            println!("{}", serde_json::to_string_pretty(&output)?);
            Ok(())
        }
        Command::Check { host } => {
            // Nothing is served, so no URL is handed out: any base will do.
            let app = host.load("http://127.0.0.1", false).await?;
            let table = app.table();
            println!("{}: {} plugin(s) OK", app.source(), table.plugins().len());
            for plugin in table.plugins() {
                println!("  {} ({}, sha256 {})", plugin.id, plugin.source, plugin.digest.short());
                for route in &plugin.routes {
                    println!("    {route}");
                }
                for trigger in &plugin.triggers {
                    println!("    on {trigger}");
                }
            }
            Ok(())
        }
    }
}

async fn operate(operation: Operation) -> anyhow::Result<()> {
    match operation {
        Operation::Deploy { local_manifest, deployment } => {
            let operator = deployment.operator().await?;
            let deployed = operator.deploy(&local_manifest).await?;
            let verb = if deployed.created { "created" } else { "updated" };
            println!("{}: {verb}", operator.store().location());
            for (id, digest, uploaded) in deployed.plugins {
                let how = if uploaded { "uploaded" } else { "already stored" };
                println!("  {id} {digest} ({how})");
            }
        }
        Operation::Push { component, plugin, deployment } => {
            let id = PluginId::parse(&plugin).map_err(anyhow::Error::msg)?;
            let operator = deployment.operator().await?;
            let pushed = operator.push(&component, &id).await?;
            let how = if pushed.uploaded { "uploaded" } else { "already stored" };
            match pushed.previous {
                Some(previous) => println!("{id}: {previous} -> {} ({how})", pushed.digest),
                None => println!("{id}: already at {} ({how}); nothing changed", pushed.digest),
            }
        }
        Operation::Rollback { plugin, to, deployment } => {
            let id = PluginId::parse(&plugin).map_err(anyhow::Error::msg)?;
            let to = to.map(|d| Digest::parse(&d)).transpose().map_err(anyhow::Error::msg)?;
            let operator = deployment.operator().await?;
            let (from, to) = operator.rollback(&id, to.as_ref()).await?;
            let from = from.map_or_else(|| "(none)".to_owned(), |d| d.to_string());
            println!("{id}: rolled back {from} -> {to}");
        }
        Operation::Status { deployment } => {
            let operator = deployment.operator().await?;
            let status = operator.status().await?;
            println!("{} (ETag {})", operator.store().location(), status.etag);
            for plugin in &status.manifest.plugins {
                println!("  {} {}", plugin.id, plugin.source);
                for route in &plugin.routes {
                    println!("    {route}");
                }
                for trigger in &plugin.triggers {
                    println!("    on {trigger}");
                }
                let grants: Vec<String> = plugin
                    .grants
                    .iter()
                    .flat_map(|(capability, labels)| labels.iter().map(move |(l, a)| format!("{capability}.{l}={a}")))
                    .collect();
                if !grants.is_empty() {
                    println!("    grants: {}", grants.join(" "));
                }
                let history = status.document.history(&plugin.id);
                if !history.is_empty() {
                    let short: Vec<&str> = history.iter().map(Digest::short).collect();
                    println!("    earlier: {}", short.join(" "));
                }
            }
        }
    }
    Ok(())
}

/// Big host-side buffers (guest arguments copied out of a plugin's memory — values and
/// bodies, up to tens of MiB) are mapped and unmapped on their own, so memory goes
/// back to the OS when a request ends. glibc otherwise raises its mmap threshold after
/// the first such buffer is freed and serves later ones from heap arenas it keeps: a
/// burst of large requests would leave hundreds of MiB resident for good.
fn return_large_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: a malloc tuning call before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

/// Output piped into `head` and the like: stop when the reader goes away, as Unix tools
/// do, instead of panicking in `println!` (Rust ignores SIGPIPE by default). Only for the
/// short-lived commands; the servers keep ignoring it.
fn exit_quietly_on_broken_pipe() {
    // SAFETY: restoring the default disposition of one signal before any output; no
    // handler runs Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// `http://<bound address>`, with an unspecified address (`0.0.0.0`) replaced by loopback, which
/// a local client can at least reach.
fn default_public_url(listen: SocketAddr) -> String {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{addr}")
}
