//! The `tessera` command: `tessera` serves the web app and the API,
//! `tessera admin …` runs one administrative command. It lives in the
//! library, not in `main.rs`: the runtime, the HTTP server and the log
//! subscriber it instantiates are then compiled alongside the `app` crate,
//! not after everything else (the binary's crate is the last step of a
//! build, on one core).

use crate::config::{Config, LogFormat};
use app::domain::{AppState, Core};
use clap::Parser;
use std::{io::IsTerminal as _, net::SocketAddr, path::PathBuf, time::Duration};
use tracing_subscriber::EnvFilter;

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,leptos=warn,tower_http=warn"));
    // colours only for a person at a terminal: a log file or journal gets
    // plain text (and NO_COLOR is honoured)
    let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_target(false);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

/// Leptos' options: the compile-time output name, our flags for the rest.
fn leptos_options(config: &Config) -> leptos::config::LeptosOptions {
    let mut options = leptos::config::get_configuration(None)
        .map(|c| c.leptos_options)
        .unwrap_or_else(|_| {
            leptos::config::LeptosOptions::builder()
                .output_name("tessera")
                .build()
        });
    options.site_addr = config.addr;
    options.site_root = config.site_root.clone().into();
    // cargo-leptos writes hash.txt beside the binary in release builds.
    let hash_file: Option<PathBuf> = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(options.hash_file.as_ref())));
    options.hash_files = hash_file.is_some_and(|f| f.exists());
    options
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

/// `tessera admin …`: opens the store (running migrations, as the server
/// does), runs one command, prints its result. Warnings go to stderr, so
/// `--json` output stays parseable.
async fn administer(config: Config, args: crate::admin_cli::AdminArgs) -> std::process::ExitCode {
    let db = match config.open_database().await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("tessera admin: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // the CLI does one thing and exits: no background deliveries here
    let mut core_config = config.core();
    core_config.lifecycle.worker = false;
    let core = match Core::new(db.clone(), core_config).await {
        Ok(core) => core,
        Err(e) => {
            eprintln!("tessera admin: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = crate::admin_cli::run(&core, args).await;
    db.close().await;
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(crate::admin_cli::Failure(message)) => {
            eprintln!("tessera admin: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Parses the command line and runs it; the process exit code.
#[tokio::main]
pub async fn main() -> std::process::ExitCode {
    let mut config = Config::parse();
    if let Err(e) = config.validate() {
        eprintln!("tessera: {e}");
        return std::process::ExitCode::from(2);
    }
    if let Some(crate::config::Command::Admin(args)) = config.command.take() {
        let filter = EnvFilter::try_from_env("RUST_LOG")
            .unwrap_or_else(|_| EnvFilter::new("warn,sqlx=warn"));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_target(false)
            .init();
        return administer(config, args).await;
    }
    init_logging(config.log_format);
    match run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("tessera: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let db = config.open_database().await?;
    tracing::info!(
        backend = db.backend(),
        "database ready (migrations applied)"
    );
    let core = Core::new(db.clone(), config.core()).await?;
    core.discover_sso().await?;
    let state = AppState::new(leptos_options(&config), core.clone());

    let housekeeping = core.clone();
    tokio::spawn(async move {
        // every few minutes each instance tries to claim the hourly job;
        // exactly one wins each hour
        let mut tick = tokio::time::interval(Duration::from_secs(300));
        loop {
            tick.tick().await;
            if let Err(e) = housekeeping.housekeeping().await {
                tracing::warn!(error = %e, "housekeeping failed");
            }
        }
    });

    if let Some(addr) = config.metrics_addr {
        let metrics = tokio::net::TcpListener::bind(addr).await?;
        tracing::info!(%addr, "metrics at /metrics");
        let router = crate::metrics_router(state.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(metrics, router).await {
                tracing::error!(error = %e, "metrics listener failed");
            }
        });
    }
    let app = crate::router(state);
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    let url = config.public_url();
    tracing::info!(addr = %config.addr, "listening");
    println!("Tessera is ready at {url}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    core.flush_usage(true).await;
    db.close().await;
    Ok(())
}
