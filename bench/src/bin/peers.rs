//! rotp beside its Rust peers, ractor and kameo, in one run: the same programs
//! (`bench/src/peers/`), their lines of code, and their speed.
//!
//! `cargo run --release -p rotp-bench --bin peers`
//!
//! Scenarios, each framework in turn on the same tokio runtime, three rounds, the median kept:
//! - messages/s: 1 000 000 `Inc` casts (`tell`s) to the supervised counter, then one call;
//! - calls/s: 200 000 `Get` calls (asks), one after the other;
//! - restart: `Inc`, `Boom`, then `Get` by the counter's name (ractor: its registered name;
//!   kameo: its `ActorRef`, kept across restarts) until the restarted counter answers 0; the
//!   median over 1000 crashes;
//! - pipeline events/s: 20 000 000 events through producer → double → sum at bounded demand.
//!
//! And program 3 (rotp only): a real erl node calls the counter on a rotp node, and for
//! reference the same counter written in Erlang on a second erl node.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use etf::Atom;
use otp::gen_server::{self, ServerRef};
use rotp_bench::peers::{self, kameo as km, ractor as ra, rotp as ro};
use runtime::{Context, ExitReason, Runtime};
use tokio::sync::oneshot;

const MESSAGES: u64 = 1_000_000;
const CALLS: u64 = 200_000;
const RESTARTS: usize = 1000;
const EVENTS: i64 = 20_000_000;
const ROUNDS: usize = 3;
const TIMEOUT: Duration = Duration::from_secs(5);

/// One framework's figures for program 1.
#[derive(Clone, Copy, Default)]
struct Counter {
    messages: f64,
    calls: f64,
    /// Median crash → restarted → first successful call.
    restart: Duration,
}

fn rate(n: u64, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

fn median<T: PartialOrd + Copy>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

/// Runs `scenario` as a rotp process and returns what it reports.
async fn in_process<T: Send + 'static, F, Fut>(rt: &Runtime, scenario: F) -> Result<T>
where
    F: FnOnce(Context) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T>> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    rt.spawn(move |ctx| async move {
        // Stopping what it started at the end must not stop it.
        ctx.trap_exit(true);
        let _ = tx.send(scenario(ctx).await);
        ExitReason::Normal
    });
    rx.await
        .map_err(|_| anyhow!("the scenario's process died"))?
}

async fn rotp_counter(rt: &Runtime) -> Result<Counter> {
    in_process(rt, |mut ctx| async move {
        let sup = ro::counter::start(&mut ctx)
            .await
            .map_err(|e| anyhow!("supervisor: {:?}", e))?
            .context("supervisor ignored")?;
        let name = ServerRef::Name(Atom::from("counter"));
        let mut rounds = Vec::new();
        for _ in 0..ROUNDS {
            let pid = name.resolve(&ctx).context("no counter")?;
            let counter = ServerRef::Pid(pid);
            let t = Instant::now();
            for _ in 0..MESSAGES {
                gen_server::cast(&ctx, counter.clone(), ro::counter::Cast::Inc);
            }
            let n: i64 =
                gen_server::call(&mut ctx, counter.clone(), ro::counter::Get, TIMEOUT).await;
            let messages = rate(MESSAGES, t.elapsed());
            anyhow::ensure!(n as u64 >= MESSAGES, "rotp counted {n}");
            let t = Instant::now();
            for _ in 0..CALLS {
                let _: i64 =
                    gen_server::call(&mut ctx, counter.clone(), ro::counter::Get, TIMEOUT).await;
            }
            let calls = rate(CALLS, t.elapsed());
            let mut restarts = Vec::with_capacity(RESTARTS);
            for _ in 0..RESTARTS {
                gen_server::cast(&ctx, name.clone(), ro::counter::Cast::Inc);
                let t = Instant::now();
                gen_server::cast(&ctx, name.clone(), ro::counter::Cast::Boom);
                loop {
                    match gen_server::try_call::<_, i64>(
                        &mut ctx,
                        name.clone(),
                        ro::counter::Get,
                        TIMEOUT,
                    )
                    .await
                    {
                        Ok(0) => break,
                        Ok(n) => anyhow::bail!("rotp: the crashed counter answered {n}"),
                        Err(_) => tokio::task::yield_now().await,
                    }
                }
                restarts.push(t.elapsed());
            }
            rounds.push(Counter {
                messages,
                calls,
                restart: median(restarts),
            });
        }
        gen_server::stop(&mut ctx, ServerRef::Pid(sup), ExitReason::Shutdown, TIMEOUT)
            .await
            .map_err(|e| anyhow!("stopping the supervisor: {e:?}"))?;
        Ok(pick(rounds))
    })
    .await
}

async fn ractor_counter() -> Result<Counter> {
    use ra::counter::CounterMsg;
    let sup = ra::counter::start().await?;
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let counter = ra::counter::counter().context("no counter")?;
        let t = Instant::now();
        for _ in 0..MESSAGES {
            counter.cast(CounterMsg::Inc)?;
        }
        let n = ractor::call_t!(counter, CounterMsg::Get, 5000)?;
        let messages = rate(MESSAGES, t.elapsed());
        anyhow::ensure!(n as u64 >= MESSAGES, "ractor counted {n}");
        let t = Instant::now();
        for _ in 0..CALLS {
            ractor::call_t!(counter, CounterMsg::Get, 5000)?;
        }
        let calls = rate(CALLS, t.elapsed());
        let mut restarts = Vec::with_capacity(RESTARTS);
        for _ in 0..RESTARTS {
            let counter = ra::counter::counter().context("no counter")?;
            counter.cast(CounterMsg::Inc)?;
            let t = Instant::now();
            counter.cast(CounterMsg::Boom)?;
            let deadline = Instant::now() + TIMEOUT;
            loop {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "ractor: no restart within {TIMEOUT:?}"
                );
                if let Some(c) = ra::counter::counter() {
                    match ractor::call_t!(c, CounterMsg::Get, 5000) {
                        Ok(0) => break,
                        Ok(n) if c.get_id() != counter.get_id() => {
                            anyhow::bail!("ractor: the restarted counter answered {n}")
                        }
                        _ => {}
                    }
                }
                tokio::task::yield_now().await;
            }
            restarts.push(t.elapsed());
        }
        rounds.push(Counter {
            messages,
            calls,
            restart: median(restarts),
        });
    }
    sup.stop(None);
    Ok(pick(rounds))
}

async fn kameo_counter() -> Result<Counter> {
    let (sup, counter) = km::counter::start().await;
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..MESSAGES {
            counter.tell(km::counter::Inc).await?;
        }
        let n = counter.ask(km::counter::Get).await?;
        let messages = rate(MESSAGES, t.elapsed());
        anyhow::ensure!(n as u64 >= MESSAGES, "kameo counted {n}");
        let t = Instant::now();
        for _ in 0..CALLS {
            counter.ask(km::counter::Get).await?;
        }
        let calls = rate(CALLS, t.elapsed());
        let mut restarts = Vec::with_capacity(RESTARTS);
        for _ in 0..RESTARTS {
            counter.tell(km::counter::Inc).await?;
            let t = Instant::now();
            counter.tell(km::counter::Boom).await?;
            let deadline = Instant::now() + TIMEOUT;
            loop {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "kameo: no restart within {TIMEOUT:?}"
                );
                match counter.ask(km::counter::Get).await {
                    Ok(0) => break,
                    Ok(n) => anyhow::bail!("kameo: the crashed counter answered {n}"),
                    Err(_) => tokio::task::yield_now().await,
                }
            }
            restarts.push(t.elapsed());
        }
        rounds.push(Counter {
            messages,
            calls,
            restart: median(restarts),
        });
    }
    let _ = sup.stop_gracefully().await;
    Ok(pick(rounds))
}

/// Runs a peer's scenario as a tokio task on a worker thread, as rotp's run in a process there
/// (on `block_on`'s thread every reply would cross threads).
async fn on_worker<T: Send + 'static>(
    scenario: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    tokio::spawn(scenario).await?
}

/// Each figure's median over the rounds.
fn pick(rounds: Vec<Counter>) -> Counter {
    Counter {
        messages: median(rounds.iter().map(|r| r.messages).collect()),
        calls: median(rounds.iter().map(|r| r.calls).collect()),
        restart: median(rounds.iter().map(|r| r.restart).collect()),
    }
}

/// The sum the pipelines must give: `2 * (0 + 1 + … + (n - 1))`.
const fn expected(n: i64) -> i64 {
    n * (n - 1)
}

async fn rotp_pipeline(rt: &Runtime) -> Result<f64> {
    in_process(rt, |mut ctx| async move {
        let t = Instant::now();
        let sup = ro::pipeline::start(&mut ctx, EVENTS)
            .await
            .map_err(|e| anyhow!("pipeline: {e:?}"))?
            .context("pipeline ignored")?;
        let sum = ctx
            .receive_timeout(Duration::from_secs(120), |m| {
                m.downcast_ref::<i64>().is_some()
            })
            .await
            .context("rotp's pipeline did not finish")?
            .downcast::<i64>()
            .map_err(|_| anyhow!("not a sum"))?;
        let took = t.elapsed();
        anyhow::ensure!(sum == expected(EVENTS), "rotp summed {sum}");
        gen_server::stop(&mut ctx, ServerRef::Pid(sup), ExitReason::Shutdown, TIMEOUT)
            .await
            .map_err(|e| anyhow!("stopping the pipeline: {e:?}"))?;
        Ok(rate(EVENTS as u64, took))
    })
    .await
}

async fn ractor_pipeline() -> Result<f64> {
    let t = Instant::now();
    let sum = tokio::time::timeout(Duration::from_secs(120), ra::pipeline::start(EVENTS).await?)
        .await
        .context("ractor's pipeline did not finish")??;
    anyhow::ensure!(sum == expected(EVENTS), "ractor summed {sum}");
    Ok(rate(EVENTS as u64, t.elapsed()))
}

async fn kameo_pipeline() -> Result<f64> {
    let t = Instant::now();
    let done = km::pipeline::start(EVENTS)
        .await
        .map_err(|e| anyhow!("kameo: {e}"))?;
    let sum = tokio::time::timeout(Duration::from_secs(120), done)
        .await
        .context("kameo's pipeline did not finish")??;
    anyhow::ensure!(sum == expected(EVENTS), "kameo summed {sum}");
    Ok(rate(EVENTS as u64, t.elapsed()))
}

/// Program 3: erl's calls/s to the rotp counter, and erl's view of a restart.
const ERL_CALLS: &str = r#"
0 = gen_server:call(S, get),
N = 20000,
T0 = erlang:monotonic_time(microsecond),
lists:foreach(fun(_) -> gen_server:call(S, {inc, 1}) end, lists:seq(1, N)),
T1 = erlang:monotonic_time(microsecond),
io:format("calls ~p~n", [N * 1000000 / (T1 - T0)]),
Zero = fun Z() -> case catch gen_server:call(S, get) of 0 -> ok; _ -> Z() end end,
Us = [begin
          gen_server:call(S, {inc, 1}),
          R0 = erlang:monotonic_time(microsecond),
          catch gen_server:call(S, boom),
          Zero(),
          erlang:monotonic_time(microsecond) - R0
      end || _ <- [1, 2, 3]],
io:format("restart ~p~n", [lists:sum(Us) / 3]),
halt().
"#;

fn erl_figure(out: &str, key: &str) -> Option<f64> {
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.trim().parse().ok())
}

fn print_lines() -> Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    println!("\nlines of code (neither blank nor comment), bench/src/peers/:");
    println!(
        "{:<10} {:>6} {:>6} {:>6}",
        "program", "rotp", "ractor", "kameo"
    );
    for program in ["counter", "pipeline", "server"] {
        let mut row = format!("{program:<10}");
        for framework in ["rotp", "ractor", "kameo"] {
            let cell = match peers::PROGRAMS
                .iter()
                .find(|(f, p, _)| *f == framework && *p == program)
            {
                Some((_, _, path)) => {
                    let source = std::fs::read_to_string(root.join(path))
                        .with_context(|| path.to_string())?;
                    peers::code_lines(&source).to_string()
                }
                None => "—".to_owned(),
            };
            row.push_str(&format!(" {cell:>6}"));
        }
        println!("{row}");
    }
    Ok(())
}

fn main() -> Result<()> {
    // Allocate as the `rotp` binary does (node::malloc).
    node::malloc::keep_freed_memory();
    // A subscriber that records nothing: rotp then hands its crash and supervisor reports to
    // it rather than printing them to stderr (3000 crashes a scenario), as ractor and kameo
    // log through tracing, and the erl reference runs with its logger off.
    tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::OFF)
        .init();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!("{}", rotp_bench::machine());
    println!(
        "rotp, ractor 0.16, kameo 0.22: one tokio runtime, {} workers, {ROUNDS} rounds each, medians",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    print_lines()?;
    tokio.block_on(async {
        let rt = Runtime::default();
        let counters = [
            ("rotp", rotp_counter(&rt).await?),
            ("ractor", on_worker(ractor_counter()).await?),
            ("kameo", on_worker(kameo_counter()).await?),
        ];
        let mut pipelines: [(&str, Vec<f64>); 3] = [("rotp", vec![]), ("ractor", vec![]), ("kameo", vec![])];
        for _ in 0..ROUNDS {
            pipelines[0].1.push(rotp_pipeline(&rt).await?);
            pipelines[1].1.push(on_worker(ractor_pipeline()).await?);
            pipelines[2].1.push(on_worker(kameo_pipeline()).await?);
        }
        let r = counters[0].1;
        println!("\nprogram 1, the supervised counter (ratio: rotp against each; > 1 means rotp is ahead)");
        println!("{:<8} {:>14} {:>12} {:>14}", "", "messages/s", "calls/s", "restart (µs)");
        for (name, c) in &counters {
            println!(
                "{:<8} {:>14.0} {:>12.0} {:>14.1}",
                name,
                c.messages,
                c.calls,
                c.restart.as_secs_f64() * 1e6
            );
        }
        for (name, c) in &counters[1..] {
            println!(
                "rotp/{:<6} {:>11} {:>12} {:>14}",
                name,
                rotp_bench::ratio(r.messages, c.messages),
                rotp_bench::ratio(r.calls, c.calls),
                rotp_bench::ratio(c.restart.as_secs_f64(), r.restart.as_secs_f64())
            );
        }
        println!("\nprogram 2, producer → double → sum, {EVENTS} events, bounded demand");
        let r = median(pipelines[0].1.clone());
        for (name, v) in &pipelines {
            let m = median(v.clone());
            println!("{:<8} {:>14.0} events/s {:>8}", name, m, rotp_bench::ratio(r, m));
        }
        let to_rotp = peers::erl_calls_the_server(ERL_CALLS).await?;
        let to_erl = peers::erl_calls_an_erl_server(ERL_CALLS).await?;
        println!("\nprogram 3, an erl node calls the counter (ractor and kameo: no Erlang distribution)");
        println!("{:<14} {:>10} {:>14}", "", "calls/s", "restart (µs)");
        let mut figures = Vec::new();
        for (name, out) in [("erl → rotp", &to_rotp), ("erl → erl", &to_erl)] {
            let calls = erl_figure(out, "calls").context(out.clone())?;
            let restart = erl_figure(out, "restart").context(out.clone())?;
            println!("{name:<14} {calls:>10.0} {restart:>14.1}");
            figures.push((calls, restart));
        }
        println!(
            "rotp/erl       {:>10} {:>14}",
            rotp_bench::ratio(figures[0].0, figures[1].0),
            rotp_bench::ratio(figures[1].1, figures[0].1)
        );
        Ok::<_, anyhow::Error>(())
    })
}
