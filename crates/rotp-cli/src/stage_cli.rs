//! `rotp stage`: GenStage taps for a shell, to try a pipeline's stages (Elixir's, erl's or
//! rotp's) from outside. `produce` hosts a producer of a range of integers, as
//! `GenStage.from_enumerable(first..last)` would; `subscribe` consumes a producer on any node
//! and prints its events, one `~w` per line.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use etf::{Atom, Term};
use node::name::NameKind;
use node::Node;
use otp::gen_server::ServerRef;
use otp::gen_stage::{
    self, CancelReason, ConsumerOptions, GenStage, Init, Return, SubscribeOptions, Subscription,
};
use runtime::{Context, ExitReason};
use tokio::sync::mpsc;

use crate::dist_cli::{client, node_config, CookieArgs};

/// `rotp stage produce` options.
#[derive(Args, Debug)]
pub struct ProduceArgs {
    /// The node's short name (`-sname`): NAME or NAME@HOST.
    #[arg(long)]
    sname: String,
    /// The name the producer is registered under.
    #[arg(long)]
    name: String,
    /// The events, FIRST..LAST (both included, as an Elixir range).
    #[arg(long)]
    range: String,
    #[command(flatten)]
    cookie: CookieArgs,
}

/// `rotp stage subscribe` options.
#[derive(Args, Debug)]
pub struct SubscribeArgs {
    /// The producer's node, NAME@HOST (or NAME for this host).
    node: String,
    /// The name the producer is registered under there.
    producer: String,
    /// `max_demand`.
    #[arg(long, default_value_t = 1000)]
    max_demand: usize,
    /// `min_demand` (default: half of `max_demand`).
    #[arg(long)]
    min_demand: Option<usize>,
    /// Stop (cancelling the subscription) after this many events.
    #[arg(long)]
    count: Option<usize>,
    #[command(flatten)]
    cookie: CookieArgs,
}

fn range(text: &str) -> Result<(i64, i64)> {
    let (first, last) = text
        .split_once("..")
        .with_context(|| format!("a range is FIRST..LAST, not {text:?}"))?;
    let parse = |s: &str| {
        s.trim()
            .parse::<i64>()
            .with_context(|| format!("{s:?} is not an integer"))
    };
    Ok((parse(first)?, parse(last)?))
}

/// `rotp stage produce`: runs until the range is exhausted and the producer's consumers have
/// been told; exit 0.
pub async fn produce(args: ProduceArgs) -> Result<ExitCode> {
    let (first, last) = range(&args.range)?;
    let config = node_config(&args.sname, NameKind::Short, &args.cookie)?;
    let node = Node::start(config).await?;
    let name = args.name.clone();
    // An Elixir range counts down when LAST < FIRST. Made as consumers ask, never held whole
    // (a range of billions is fine).
    let span = first.abs_diff(last);
    let up = first <= last;
    let events = (0..=span).map(move |i| {
        Term::Integer(if up {
            first.wrapping_add_unsigned(i)
        } else {
            first.wrapping_sub_unsigned(i)
        })
    });
    let banner = format!(
        "rotp node {} is up; producer {name} holds {} events",
        node.name(),
        u128::from(span) + 1
    );
    let ended = node
        .in_process(move |mut ctx| async move {
            ctx.trap_exit(true);
            match gen_stage::from_enumerable(&mut ctx, events, gen_stage::local(&name)).await {
                Ok(Some(pid)) => {
                    // Up and registered: consumers may come.
                    println!("{banner}");
                    loop {
                        if let Some((from, reason)) = ctx.recv().await.as_exit() {
                            if from == pid {
                                break Ok(reason);
                            }
                        }
                    }
                }
                Ok(None) => Ok(ExitReason::Normal),
                Err(reason) => Err(reason),
            }
        })
        .await;
    match ended {
        Some(Ok(ExitReason::Normal)) => {
            // Consumers learn of the end from their monitors: those signals go out before the
            // connections close.
            for peer in node.nodes(true) {
                close(&node, &peer).await;
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Ok(reason)) => bail!(
            "the producer stopped: {}",
            etf::text::write(&reason.to_term())
        ),
        Some(Err(reason)) => bail!(
            "the producer did not start: {}",
            etf::text::write(&reason.to_term())
        ),
        None => bail!("the producer's process ended"),
    }
}

/// What the printing consumer tells the command.
enum Seen {
    Event(String),
    /// The subscription ended: after `--count` (`None`), or the producer's reason.
    Cancelled(Option<Term>),
}

/// Prints what it gets, and cancels after `count` events.
struct Printer {
    to: ServerRef,
    opts: SubscribeOptions,
    count: Option<usize>,
    out: mpsc::UnboundedSender<Seen>,
}

impl GenStage for Printer {
    type Args = ();
    type State = usize;
    type In = Term;
    type Out = ();

    async fn init(&self, _: (), _: &mut Context) -> Init<usize, Self::Out> {
        Init::Consumer(
            0,
            ConsumerOptions {
                subscribe_to: vec![(self.to.clone(), self.opts.clone())],
            },
        )
    }

    async fn handle_events(
        &self,
        events: Vec<Term>,
        from: &Subscription,
        seen: &mut usize,
        ctx: &mut Context,
    ) -> Return<()> {
        for event in events {
            if self.count.is_some_and(|k| *seen >= k) {
                break;
            }
            *seen += 1;
            let _ = self.out.send(Seen::Event(etf::text::write(&event)));
        }
        if self.count.is_some_and(|k| *seen >= k) {
            gen_stage::cancel(ctx, from, Term::atom("normal"));
            let _ = self.out.send(Seen::Cancelled(None));
            return Return::Stop(ExitReason::Normal);
        }
        Return::NoReply(Vec::new())
    }

    async fn handle_cancel(
        &self,
        reason: CancelReason,
        _: &Subscription,
        _: &mut usize,
        _: &mut Context,
    ) -> Return<()> {
        let (CancelReason::Cancel(why) | CancelReason::Down(why)) = reason;
        let _ = self.out.send(Seen::Cancelled(Some(why)));
        Return::Stop(ExitReason::Normal)
    }
}

/// `rotp stage subscribe`: prints events until `--count` or the producer's end; exit 0.
pub async fn subscribe(args: SubscribeArgs) -> Result<ExitCode> {
    let (node, target) = client(&args.node, &args.cookie).await?;
    if !node.connect(&target).await {
        bail!("cannot reach {target}");
    }
    let opts = SubscribeOptions {
        max_demand: args.max_demand,
        min_demand: args.min_demand,
        ..SubscribeOptions::default()
    };
    let (out, mut seen) = mpsc::unbounded_channel();
    let printer = Printer {
        to: ServerRef::Remote(Atom::from(args.producer.as_str()), target.clone()),
        opts,
        count: args.count,
        out,
    };
    let started = node
        .in_process(move |mut ctx| async move {
            ctx.trap_exit(true);
            let started = gen_stage::start_link(&mut ctx, printer, (), None).await;
            // The consumer runs on; this process stays to be its (trapping) parent.
            let ok = started
                .as_ref()
                .map(|p| p.is_some())
                .map_err(|r| etf::text::write(&r.to_term()));
            tokio::spawn(async move {
                loop {
                    let _ = ctx.recv().await;
                }
            });
            ok
        })
        .await
        .context("the consumer's process ended")?;
    if let Err(reason) = started {
        bail!(
            "cannot subscribe to {} on {target}: {reason}",
            args.producer
        );
    }
    let mut printed = 0;
    let mut missing = false;
    while let Some(s) = seen.recv().await {
        match s {
            Seen::Event(line) => {
                printed += 1;
                println!("{line}");
            }
            Seen::Cancelled(why) => {
                // A name nobody has there: the monitor says `noproc` before any event.
                missing = printed == 0 && why.as_ref().and_then(Term::as_atom) == Some("noproc");
                break;
            }
        }
    }
    // The cancellation goes out before the connection closes.
    close(&node, &target).await;
    if missing {
        eprintln!(
            "rotp: no process is registered as {} on {target}",
            args.producer
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Closes the connection to `peer` once what is queued for it is written (a disconnect writes
/// the queue first), waiting (up to 5 s) until it is gone: the program may end then without
/// losing a message.
async fn close(node: &Node, peer: &Atom) {
    node.disconnect(peer);
    for _ in 0..500 {
        if !node.nodes(true).contains(peer) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
