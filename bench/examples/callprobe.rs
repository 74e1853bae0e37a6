//! Where a GenServer call's time goes: a ping-pong between two processes, plain and with each
//! piece a call adds (a receive timeout, a monitor, a fresh reference), in round trips/s.
//!
//! `cargo run --release -p rotp-bench --example callprobe [plain|timeout|monitor|make_ref]`
//! (`KEEPER=1` adds a standing 1 s timer, to see what `runtime::timer` is for.)
use etf::Term;
use runtime::{Context, ExitReason, Message, Runtime};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

const N: u64 = 200_000;

async fn run<F, Fut>(rt: &Runtime, name: &str, f: F)
where
    F: FnOnce(Context, etf::Pid) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let pong = rt.spawn(|mut c| async move {
        loop {
            let m = c.recv().await;
            match m.downcast::<etf::Pid>() {
                Ok(p) => c.send(&p, Message::local(1u64)),
                Err(_) => return ExitReason::Normal,
            }
        }
    });
    let (tx, rx) = oneshot::channel();
    rt.spawn(move |ctx| async move {
        let t = Instant::now();
        f(ctx, pong).await;
        let _ = tx.send(t.elapsed());
        ExitReason::Normal
    });
    let took = rx.await.unwrap();
    println!("{name:<24} {:>10.0}/s", N as f64 / took.as_secs_f64());
}

fn main() {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    tokio.block_on(async {
        // Each variant runs twice: the first run warms up.
        let rt = Runtime::default();
        if std::env::var("KEEPER").is_ok() {
            tokio::spawn(async {
                loop {
                    tokio::time::sleep(Duration::from_millis(1000)).await;
                }
            });
        }
        let which = std::env::args().nth(1).unwrap_or_default();
        for _ in 0..2 {
            if which.is_empty() || which == "plain" {
                run(&rt, "plain", |mut ctx, pong| async move {
                    for _ in 0..N {
                        ctx.send(&pong, Message::local(ctx.pid().clone()));
                        ctx.recv().await;
                    }
                    ctx.send(&pong, Term::atom("stop"));
                })
                .await;
            }
            if which.is_empty() || which == "timeout" {
                run(&rt, "timeout", |mut ctx, pong| async move {
                    for _ in 0..N {
                        ctx.send(&pong, Message::local(ctx.pid().clone()));
                        ctx.receive_timeout(Duration::from_secs(5), |_| true).await;
                    }
                    ctx.send(&pong, Term::atom("stop"));
                })
                .await;
            }
            if which.is_empty() || which == "monitor" {
                run(&rt, "monitor", |mut ctx, pong| async move {
                    for _ in 0..N {
                        let r = ctx.monitor(&pong);
                        ctx.send(&pong, Message::local(ctx.pid().clone()));
                        ctx.recv().await;
                        ctx.demonitor(&r, true);
                    }
                    ctx.send(&pong, Term::atom("stop"));
                })
                .await;
            }
            if which.is_empty() || which == "make_ref" {
                run(&rt, "make_ref", |mut ctx, pong| async move {
                    for _ in 0..N {
                        let _r = ctx.make_ref();
                        ctx.send(&pong, Message::local(ctx.pid().clone()));
                        ctx.recv().await;
                    }
                    ctx.send(&pong, Term::atom("stop"));
                })
                .await;
            }
        }
    });
}
