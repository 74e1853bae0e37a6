//! Registry: unique and duplicate keys, partitions, lookups, dispatch, `via` names for
//! servers, and entries removed when their process dies.

use std::time::Duration;

use etf::Term;
use rotp_otp::gen_server::{self, call, Name};
use rotp_otp::registry::{AlreadyRegistered, Keys, Registry};
use rotp_otp::{CallReply, From, GenServer, Init};
use runtime::{Context, ExitReason, Runtime};
use tokio::sync::mpsc;

/// Waits (bounded) for `check` to hold.
async fn eventually(mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition never held");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_keys_have_one_process_and_are_freed_when_it_dies() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        let registry = Registry::start_link(&mut ctx, Keys::Unique, 4);
        let r = registry.clone();
        let owner = ctx.spawn(move |mut c| async move {
            r.register(&c, &Term::atom("job"), Term::Integer(1))
                .unwrap();
            c.recv().await;
            ExitReason::Normal
        });
        ctx.receive_timeout(Duration::from_millis(50), |_| false)
            .await;
        let second = registry.register(&ctx, &Term::atom("job"), Term::Integer(2));
        let _ = tx.send((registry.clone(), owner.clone(), second));
        ctx.receive(|_| false).await;
        ExitReason::Normal
    });
    let (registry, owner, second) = rx.recv().await.unwrap();
    assert_eq!(second, Err(AlreadyRegistered(owner.clone())));
    assert_eq!(
        registry.lookup(&Term::atom("job")),
        vec![(owner.clone(), Term::Integer(1))]
    );
    assert_eq!(registry.keys(&owner), vec![Term::atom("job")]);
    rt.send(&owner, Term::atom("stop"));
    eventually(|| registry.lookup(&Term::atom("job")).is_empty()).await;
    assert_eq!(registry.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_keys_dispatch_to_every_process() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        let registry = Registry::start_link(&mut ctx, Keys::Duplicate, 2);
        let (got_tx, mut got) = mpsc::unbounded_channel();
        for n in 0..3 {
            let (r, got_tx) = (registry.clone(), got_tx.clone());
            ctx.spawn(move |mut c| async move {
                r.register(&c, &Term::atom("topic"), Term::Integer(n))
                    .unwrap();
                let m = c.recv().await;
                let _ = got_tx.send((n, m.as_term().cloned()));
                ExitReason::Normal
            });
        }
        ctx.receive_timeout(Duration::from_millis(50), |_| false)
            .await;
        let runtime = ctx.runtime().clone();
        registry.dispatch(&Term::atom("topic"), |entries| {
            for (pid, _) in entries {
                runtime.send(pid, Term::atom("news"));
            }
        });
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(got.recv().await.unwrap());
        }
        seen.sort_by_key(|(n, _)| *n);
        let _ = tx.send(seen);
        ExitReason::Normal
    });
    let seen = rx.recv().await.unwrap();
    assert_eq!(
        seen,
        (0..3)
            .map(|n| (n, Some(Term::atom("news"))))
            .collect::<Vec<_>>()
    );
}

struct Echo;

impl GenServer for Echo {
    type Args = ();
    type State = ();
    type Call = Term;
    type Reply = Term;
    type Cast = ();

    async fn init(&self, _: (), _ctx: &mut Context) -> Init<()> {
        Init::Ok(())
    }

    async fn handle_call(
        &self,
        t: Term,
        _from: &From,
        _s: &mut (),
        _ctx: &mut Context,
    ) -> CallReply<Term> {
        CallReply::Reply(t)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_can_be_named_via_a_registry() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        let registry = Registry::start_link(&mut ctx, Keys::Unique, 1);
        let key = Term::Tuple(vec![Term::atom("echo"), Term::Integer(1)]);
        let name = Name::via(registry.clone(), key.clone());
        let pid = gen_server::start_link(&mut ctx, Echo, (), Some(name.clone()))
            .await
            .unwrap()
            .unwrap();
        let answer: Term = call(
            &mut ctx,
            rotp_otp::ServerRef::via(registry.clone(), key.clone()),
            Term::atom("hi"),
            gen_server::DEFAULT_TIMEOUT,
        )
        .await;
        let again = gen_server::start_link(&mut ctx, Echo, (), Some(name)).await;
        let _ = tx.send((answer, again.err(), pid));
        ExitReason::Normal
    });
    let (answer, again, pid) = rx.recv().await.unwrap();
    assert_eq!(answer, Term::atom("hi"));
    assert_eq!(
        again,
        Some(ExitReason::Other(Term::Tuple(vec![
            Term::atom("already_started"),
            Term::Pid(pid)
        ])))
    );
}

/// Many processes registering, looking up and dying at once across partitions: every key is
/// taken by exactly one of its contenders, every entry is seen by lookups while its owner
/// lives, and all of them are gone when the owners are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_under_load_keep_keys_unique_and_clean_up() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (keys, contenders) = (500i64, 4);
    rt.spawn(move |mut ctx| async move {
        let registry = Registry::start_link(&mut ctx, Keys::Unique, 8);
        let (won_tx, mut won) = mpsc::unbounded_channel();
        let mut owners = Vec::new();
        for key in 0..keys {
            for _ in 0..contenders {
                let (r, won_tx) = (registry.clone(), won_tx.clone());
                owners.push(ctx.spawn(move |mut c| async move {
                    let ok = r
                        .register(&c, &Term::Integer(key), Term::Integer(key))
                        .is_ok();
                    let _ = won_tx.send((key, ok));
                    c.recv().await;
                    ExitReason::Normal
                }));
            }
        }
        let mut winners = vec![0; keys as usize];
        for _ in 0..keys * contenders {
            let (key, ok) = won.recv().await.unwrap();
            winners[key as usize] += usize::from(ok);
        }
        let seen = (0..keys)
            .filter(|k| registry.lookup(&Term::Integer(*k)).len() == 1)
            .count();
        let _ = tx.send((winners, seen, registry.count(), registry.clone(), owners));
        ctx.receive(|_| false).await;
        ExitReason::Normal
    });
    let (winners, seen, count, registry, owners) = rx.recv().await.unwrap();
    assert!(winners.iter().all(|&w| w == 1), "{winners:?}");
    assert_eq!(seen, keys as usize);
    assert_eq!(count, keys as usize);
    for pid in &owners {
        rt.send(pid, Term::atom("stop"));
    }
    eventually(|| registry.count() == 0).await;
}
