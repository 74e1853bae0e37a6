//! Serde-typed GenServer messages over the wire: an erl node calls a rotp server whose
//! `Call` is a serde enum (`serde_messages!()`), and a rotp process calls, casts and sends to
//! an erl `gen_server` with serde types (`call_typed`, `cast_typed`, `send_typed`).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use etf::{Atom, Term};
use otp::gen_server::{self, CallReply, GenServer, Init, NoReply, ServerRef, TypedCallError};
use runtime::{Context, ExitReason, Message};
use serde::{Deserialize, Serialize};
use support::*;

/// A counter erl reaches as `{inc, N}`, `get`, `boom` and the cast `reset`.
struct Counter;

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Request {
    Inc(i64),
    Get,
    /// Answered with `GenServer.reply`, after `handle_call` returned `noreply`.
    Later,
    Boom,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Cast {
    Reset,
}

/// What `get` answers: `#{value => N, calls => C, strays => S}`.
#[derive(Serialize, Deserialize, Debug, PartialEq, Default, Clone)]
struct Stats {
    value: i64,
    calls: u32,
    /// Messages that came to `handle_info` (term requests of another shape among them).
    strays: u32,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Reply {
    /// `{ok, N}`.
    Count(Result<i64, ()>),
    /// A map.
    Stats(Stats),
}

impl GenServer for Counter {
    type Args = ();
    type State = Stats;
    type Call = Request;
    type Reply = Reply;
    type Cast = Cast;

    otp::serde_messages!();

    async fn init(&self, _: (), _: &mut Context) -> Init<Stats> {
        Init::Ok(Stats::default())
    }

    async fn handle_call(
        &self,
        request: Request,
        from: &otp::From,
        stats: &mut Stats,
        ctx: &mut Context,
    ) -> CallReply<Reply> {
        stats.calls += 1;
        match request {
            Request::Inc(k) => {
                stats.value += k;
                CallReply::Reply(Reply::Count(Ok(stats.value)))
            }
            Request::Get => CallReply::Reply(Reply::Stats(stats.clone())),
            Request::Later => {
                from.reply_typed(ctx, Reply::Count(Ok(stats.value)));
                CallReply::NoReply
            }
            Request::Boom => CallReply::Stop(ExitReason::atom("boom")),
        }
    }

    async fn handle_cast(&self, Cast::Reset: Cast, stats: &mut Stats, _: &mut Context) -> NoReply {
        stats.value = 0;
        NoReply::Continue
    }

    async fn handle_info(&self, _: Message, stats: &mut Stats, _: &mut Context) -> NoReply {
        stats.strays += 1;
        NoReply::Continue
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erl_calls_a_rotp_server_whose_messages_are_serde_types() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_gst", "gstyped", port).await;
    let started = node
        .in_process(|mut ctx| async move {
            let name = Some(otp::Name::Local(Atom::from("counter")));
            let pid = gen_server::start(&mut ctx, Counter, (), name).await;
            matches!(pid, Ok(Some(_)))
        })
        .await;
    assert_eq!(started, Some(true));
    let target = node.name().to_string();
    let out = erl_eval(
        "erl_gst",
        "gstyped",
        port,
        &format!(
            "S = {{counter, '{target}'}}, \
             P = fun(X) -> io:format(\"~w~n\", [X]) end, \
             P(gen_server:call(S, {{inc, 5}})), \
             P(gen_server:call(S, {{inc, 1}})), \
             P(gen_server:call(S, get)), \
             P(gen_server:call(S, later)), \
             P(catch gen_server:call(S, {{inc, <<\"five\">>}}, 300)), \
             P(catch gen_server:call(S, {{dec, 1}}, 300)), \
             ok = gen_server:cast(S, reset), \
             ok = gen_server:cast(S, {{reset, now}}), \
             P(gen_server:call(S, get)), \
             P(catch gen_server:call(S, boom)), \
             P(catch gen_server:call(S, get, 300)), \
             halt()."
        ),
    )
    .await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 9, "{out}");
    assert_eq!(
        lines[..4],
        [
            "{ok,5}",
            "{ok,6}",
            "#{calls => 3,strays => 0,value => 6}",
            "{ok,6}"
        ]
    );
    // Requests that do not fit `Request` are no calls: each waits out its timeout, the server
    // lives on, and they reach `handle_info` (as does the cast that does not fit `Cast`).
    assert!(
        lines[4].starts_with("{'EXIT',{timeout,{gen_server,call,"),
        "{out}"
    );
    assert!(
        lines[5].starts_with("{'EXIT',{timeout,{gen_server,call,"),
        "{out}"
    );
    assert_eq!(lines[6], "#{calls => 5,strays => 3,value => 0}");
    // `boom` stops the server; erl's caller exits with its reason, as from a gen_server.
    assert!(
        lines[7].starts_with("{'EXIT',{boom,{gen_server,call,"),
        "{out}"
    );
    assert!(lines[8].starts_with("{'EXIT',{noproc,"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iex_calls_a_rotp_server_whose_messages_are_serde_types() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_gsx", "gstypedx", port).await;
    let started = node
        .in_process(|mut ctx| async move {
            let name = Some(otp::Name::Local(Atom::from("counter")));
            matches!(
                gen_server::start(&mut ctx, Counter, (), name).await,
                Ok(Some(_))
            )
        })
        .await;
    assert_eq!(started, Some(true));
    let target = node.name().to_string();
    let script = format!(
        "s = {{:counter, :\"{target}\"}}; \
         IO.inspect(GenServer.call(s, {{:inc, 41}})); \
         GenServer.cast(s, :reset); \
         IO.inspect(GenServer.call(s, {{:inc, 2}})); \
         IO.inspect(GenServer.call(s, :get)); \
         System.halt()"
    );
    let out = std::process::Command::new("elixir")
        .args(["--sname", "iex_gsx", "--cookie", "gstypedx", "-e", &script])
        .env("ERL_EPMD_PORT", port.to_string())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("elixir");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .collect::<Vec<_>>(),
        ["{:ok, 41}", "{:ok, 2}", "%{calls: 3, strays: 0, value: 2}"],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `shop`, an erl `gen_server` compiled from source in the node's `-eval`: items are
/// `#{name => Binary, qty => Integer}`.
const SHOP: &str = r#"
Src = ["-module(shop).",
       "-behaviour(gen_server).",
       "-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).",
       "init([]) -> {ok, #{}}.",
       "handle_call({put, #{name := N, qty := Q}}, _From, S) -> {reply, ok, S#{N => Q}};
        handle_call({get, N}, _From, S) ->
            case S of
                #{N := Q} -> {reply, {ok, #{name => N, qty => Q}}, S};
                _ -> {reply, {error, not_found}, S}
            end;
        handle_call(all, _From, S) -> {reply, S, S}.",
       "handle_cast({take, N, K}, S) -> {noreply, S#{N => maps:get(N, S) - K}}.",
       "handle_info({restock, N, K}, S) -> {noreply, S#{N => maps:get(N, S, 0) + K}}."],
Forms = [begin {ok, T, _} = erl_scan:string(F), {ok, Form} = erl_parse:parse_form(T), Form end
         || F <- Src],
{ok, shop, Bin} = compile:forms(Forms),
{module, shop} = code:load_binary(shop, "shop.erl", Bin),
{ok, _} = gen_server:start({local, shop}, shop, [], []),
timer:sleep(infinity).
"#;

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Item {
    name: String,
    qty: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum ShopCall<'a> {
    Put(Item),
    Get(&'a str),
    All,
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum ShopCast<'a> {
    Take(&'a str, i64),
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum ShopInfo<'a> {
    Restock(&'a str, i64),
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Missing {
    NotFound,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotp_process_calls_casts_and_sends_to_an_erl_gen_server_with_serde_types() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_gsh", "gsshop", port).await;
    let _erl = start_erl("erl_gsh", "gsshop", port, SHOP);
    wait_registered(port, "erl_gsh").await;
    let erl = node_name("erl_gsh");
    harness::wait_until_async("shop runs on erl", Duration::from_secs(30), || {
        let node = node.clone();
        let erl = erl.clone();
        async move {
            let pid = node
                .rpc(
                    &erl,
                    "erlang",
                    "whereis",
                    vec![Term::atom("shop")],
                    Duration::from_secs(5),
                )
                .await;
            matches!(pid, Term::Pid(_))
        }
    })
    .await;
    let shop = ServerRef::Remote(Atom::from("shop"), erl.clone());
    let t = Duration::from_secs(5);
    let outcome = node
        .in_process(move |mut ctx| async move {
            let apples = Item {
                name: "apples".into(),
                qty: 3,
            };
            let put: () = gen_server::call_typed(&mut ctx, shop.clone(), &ShopCall::Put(apples), t)
                .await
                .unwrap();
            let found: Result<Item, Missing> =
                gen_server::call_typed(&mut ctx, shop.clone(), &ShopCall::Get("apples"), t)
                    .await
                    .unwrap();
            let missing: Result<Item, Missing> =
                gen_server::call_typed(&mut ctx, shop.clone(), &ShopCall::Get("pears"), t)
                    .await
                    .unwrap();
            gen_server::cast_typed(&ctx, shop.clone(), &ShopCast::Take("apples", 1)).unwrap();
            gen_server::send_typed(&ctx, shop.clone(), &ShopInfo::Restock("pears", 10)).unwrap();
            let all: BTreeMap<String, i64> =
                gen_server::call_typed(&mut ctx, shop.clone(), &ShopCall::All, t)
                    .await
                    .unwrap();
            // A reply that does not fit the type asked for: the error names where.
            let wrong = gen_server::call_typed::<Result<String, Missing>>(
                &mut ctx,
                shop.clone(),
                &ShopCall::Get("apples"),
                t,
            )
            .await;
            // No such server: the call's own error.
            let nobody = gen_server::call_typed::<()>(
                &mut ctx,
                ServerRef::Remote(Atom::from("nobody"), shop_node(&shop)),
                &ShopCall::All,
                t,
            )
            .await;
            (put, found, missing, all, wrong, nobody)
        })
        .await
        .expect("the calling process ran");
    let (put, found, missing, all, wrong, nobody) = outcome;
    assert_eq!(put, ());
    assert_eq!(
        found,
        Ok(Item {
            name: "apples".into(),
            qty: 3
        })
    );
    assert_eq!(missing, Err(Missing::NotFound));
    assert_eq!(
        all,
        BTreeMap::from([("apples".to_string(), 2), ("pears".to_string(), 10)])
    );
    let wrong = wrong.unwrap_err();
    assert!(matches!(wrong, TypedCallError::Reply { .. }), "{wrong:?}");
    assert_eq!(
        wrong.to_string(),
        "the reply {ok,#{name => <<97,112,112,108,101,115>>,qty => 2}} does not fit: \
         [1]: expected a binary, found a map"
    );
    assert!(!wrong.serde_error().unwrap().path().unwrap().is_root());
    assert_eq!(nobody, Err(TypedCallError::Call(otp::CallError::NoProc)));
}

fn shop_node(shop: &ServerRef) -> Atom {
    match shop {
        ServerRef::Remote(_, node) => node.clone(),
        _ => unreachable!("shop is on the erl node"),
    }
}
