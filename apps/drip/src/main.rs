//! `drip`: resolves the settings, then does what it was asked. `drip` (or `drip start`)
//! brings the app up and serves it until SIGTERM, Ctrl-C or `drip stop`; then `/health/ready`
//! says no, it stops taking requests, lets those in flight finish and the pipelines drain
//! (`--shutdown-timeout` in all), releases its `global` names, leaves the cluster and exits
//! 0. The other commands work on the data directory and the database without a node
//! (`check`, `admin`, `keys`, `migrate`) or reach the running node (`remote`, `rpc`, `stop`,
//! `pid`), and exit.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

fn main() -> ExitCode {
    node::malloc::keep_freed_memory();
    // One heap, so that what a burst of requests freed goes back once Drip is quiet
    // (`app::give_back_when_quiet`).
    node::malloc::one_heap();
    let args = drip::config::Args::parse();
    let command = args.command.clone().unwrap_or(drip::config::Command::Start);
    let config = match drip::config::Config::resolve(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("drip: {e}");
            return ExitCode::from(2);
        }
    };
    // The commands that reach the running node print their answer: their own node's
    // comings and goings are no news.
    let quiet = matches!(
        command,
        drip::config::Command::Remote
            | drip::config::Command::Rpc { .. }
            | drip::config::Command::Stop
            | drip::config::Command::Pid
            | drip::config::Command::Version
    );
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(if quiet { "warn" } else { "info" })
            }),
        )
        .with_writer(std::io::stderr)
        // Colours for a terminal only: a log file gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("drip: cannot start: {e}");
            return ExitCode::from(2);
        }
    };
    let done = match command {
        drip::config::Command::Start => runtime.block_on(run(config)).map(|()| ExitCode::SUCCESS),
        other => runtime.block_on(drip::commands::run(other, config)),
    };
    match done {
        Ok(code) => code,
        Err(e) => {
            eprintln!("drip: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(config: drip::config::Config) -> anyhow::Result<()> {
    let (http, limits, metrics) = (config.http, config.limits, config.metrics);
    let app = drip::app::start(config).await?;
    let listener = tokio::net::TcpListener::bind(http)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {http}: {e}"))?;
    if let Some(addr) = metrics {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {addr}: {e}"))?;
        let router = drip::web::metrics_router(app.clone());
        let stopping = app.stopping.subscribe();
        tokio::spawn(drip::web::serve::serve(
            listener,
            router,
            limits,
            async move {
                let mut stopping = stopping;
                let _ = stopping.wait_for(|s| *s).await;
                tokio::time::Instant::now()
            },
        ));
        println!("drip: metrics on http://{addr}/metrics");
    }
    println!(
        "drip: node {} is up; the web UI and API are on http://{http}/",
        app.node.name()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    // From the signal, the whole stop has `shutdown_timeout`: the requests in flight get up to
    // half of it, the pipelines the rest.
    let (signalled, signal_at) = tokio::sync::oneshot::channel();
    let stop = {
        let app = app.clone();
        async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
                () = app.node.stop_requested() => {}
            }
            println!("drip: stopping: no new requests; finishing those in flight, then draining the pipelines");
            app.stopping.send_replace(true);
            let now = tokio::time::Instant::now();
            let _ = signalled.send(now);
            now + limits.shutdown_timeout / 2
        }
    };
    let finished =
        drip::web::serve::serve(listener, drip::web::router(app.clone()), limits, stop).await;
    if !finished {
        println!("drip: some connections were still open at the drain time: closed");
    }
    let since = signal_at.await.map_or(Duration::ZERO, |at| at.elapsed());
    let left = limits
        .shutdown_timeout
        .saturating_sub(since)
        .max(Duration::from_secs(1));
    let drained = drip::app::drain(&app, left).await;
    // Its global names (the download caches it holds) go everywhere now, and its peers see
    // nodedown at once rather than after net_ticktime.
    let _ = tokio::time::timeout(Duration::from_secs(2), app.node.leave()).await;
    println!(
        "drip: {}",
        if drained {
            "drained; bye".to_owned()
        } else {
            format!("the pipelines did not drain in {} s; stopping anyway (their tasks resume at the next start)", left.as_secs())
        }
    );
    Ok(())
}
