//! Chapter 6 of the guide: `global` names across nodes.
//!
//! `cargo run -p rotp-erlang --example global` (optionally followed by a prefix for the
//! nodes' names, `global` by default). Ctrl-C stops it.
//!
//! What to watch:
//! 1. One program, two rotp nodes: `global_a@yourhost` and `global_b@yourhost`, each as
//!    `erl -sname` would start it, with the same cookie.
//! 2. On `a`, a ledger server is registered as `{:global, :ledger}`: one name for the whole
//!    cluster, not one per node.
//! 3. `b` connects to `a`; `global` hands the names over with the connection, so on `b`
//!    `whereis_name(:ledger)` is the pid on `a`, and a call through the global name from `b`
//!    reaches it. No node name appears in the call.
//! 4. Then the program prints the commands for iex (or erl): a BEAM node that joins sees the
//!    same name, and calls the ledger as `GenServer.call({:global, :ledger}, …)`.

use std::time::Duration;

use rotp::node::{cookie::find_cookie, name::NameKind};
use rotp::prelude::*;

// ANCHOR: ledger
/// `{:deposit, n}` or `:balance`; the reply is the balance.
#[derive(Debug, Serialize, Deserialize)]
#[serde(crate = "rotp::serde", rename_all = "snake_case")]
enum Request {
    Deposit(i64),
    Balance,
}

#[derive(Clone)]
struct Ledger;

impl GenServer for Ledger {
    type Args = ();
    type State = i64;
    type Call = Request;
    type Reply = i64;
    type Cast = ();
    serde_messages!();

    async fn init(&self, _: (), _: &mut Context) -> Init<i64> {
        Init::Ok(0)
    }

    async fn handle_call(
        &self,
        request: Request,
        _: &gen_server::From,
        balance: &mut i64,
        ctx: &mut Context,
    ) -> CallReply<i64> {
        if let Request::Deposit(n) = request {
            *balance += n;
        }
        println!(
            "ledger on {}: {request:?} -> {balance}",
            ctx.runtime().node()
        );
        CallReply::Reply(*balance)
    }
}
// ANCHOR_END: ledger

#[rotp::tokio::main(crate = "rotp::tokio")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let prefix = std::env::args().nth(1).unwrap_or_else(|| "global".into());
    // ANCHOR: nodes
    let cookie = find_cookie(None)?;
    let a = Node::start(NodeConfig::new(
        &format!("{prefix}_a"),
        NameKind::Short,
        cookie.clone(),
    ))
    .await?;
    let b = Node::start(NodeConfig::new(
        &format!("{prefix}_b"),
        NameKind::Short,
        cookie,
    ))
    .await?;
    println!("nodes up: {} and {}", a.name(), b.name());
    // ANCHOR_END: nodes

    // ANCHOR: register
    // On a: the ledger, started under the name {:global, :ledger}.
    let name = a.global().via(atom!(ledger));
    let started = a
        .in_process(
            |mut ctx| async move { gen_server::start(&mut ctx, Ledger, (), Some(name)).await },
        )
        .await;
    println!(
        "a: ledger started: {}",
        matches!(started, Some(Ok(Some(_))))
    );
    // ANCHOR_END: register

    // ANCHOR: lookup
    // b joins a: global's names come with the connection.
    println!("b: connect to a: {}", b.connect(a.name()).await);
    b.global().sync().await;
    let holder = b.global().whereis_name(&atom!(ledger));
    println!(
        "b: whereis_name(:ledger) is a's process: {}",
        holder.is_some_and(|pid| &pid.node == a.name())
    );

    // A call from b through the global name.
    let global = b.global();
    let balance = b
        .in_process(|mut ctx| async move {
            let ledger = ServerRef::via(global, atom!(ledger));
            gen_server::call_typed::<i64>(
                &mut ctx,
                ledger,
                &Request::Deposit(5),
                Duration::from_secs(5),
            )
            .await
        })
        .await;
    match balance {
        Some(Ok(balance)) => {
            println!("b: deposit 5 through {{:global, :ledger}}: balance {balance}")
        }
        other => println!("b: the call through {{:global, :ledger}} failed: {other:?}"),
    }
    // ANCHOR_END: lookup

    print_commands(a.name());
    rotp::tokio::signal::ctrl_c().await?;
    b.leave().await;
    a.leave().await;
    Ok(())
}

// ANCHOR: commands
fn print_commands(node: &Atom) {
    let cookie = std::env::var("RELEASE_COOKIE")
        .map(|c| format!(" --cookie {c}"))
        .unwrap_or_default();
    println!("ready; in another terminal:\n");
    println!("  iex --sname iex{cookie}\n");
    println!("  iex> Node.connect(:\"{node}\")");
    println!("  iex> :global.sync()");
    println!("  iex> :global.whereis_name(:ledger)");
    println!("  iex> GenServer.call({{:global, :ledger}}, {{:deposit, 10}})\n");
    println!("Ctrl-C stops both nodes.");
}
// ANCHOR_END: commands
