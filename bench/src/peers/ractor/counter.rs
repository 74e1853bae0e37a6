//! Program 1 in ractor: a counter actor registered as `counter`, spawned linked to a supervisor
//! actor that spawns it again when it fails (ractor's supervision: `handle_supervisor_evt`).

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr, SupervisionEvent};

/// The counter.
pub struct Counter;

/// Its messages.
pub enum CounterMsg {
    /// Add one.
    Inc,
    /// The count.
    Get(RpcReplyPort<i64>),
    /// Crash.
    Boom,
}

impl Actor for Counter {
    type Msg = CounterMsg;
    type State = i64;
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<CounterMsg>, _: ()) -> Result<i64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<CounterMsg>,
        msg: CounterMsg,
        n: &mut i64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CounterMsg::Inc => *n += 1,
            CounterMsg::Get(reply) => reply.send(*n)?,
            CounterMsg::Boom => return Err("boom".into()),
        }
        Ok(())
    }
}

/// The supervisor: restarts the counter whenever it fails.
pub struct Supervisor;

impl Supervisor {
    async fn spawn_counter(me: ActorRef<()>) -> Result<(), SpawnErr> {
        Actor::spawn_linked(Some("counter".into()), Counter, (), me.get_cell()).await?;
        Ok(())
    }
}

impl Actor for Supervisor {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, me: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(Supervisor::spawn_counter(me).await?)
    }

    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<()>,
        event: SupervisionEvent,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(..) = event {
            Supervisor::spawn_counter(me).await?;
        }
        Ok(())
    }
}

/// Starts the supervisor and the counter under it.
pub async fn start() -> Result<ActorRef<()>, SpawnErr> {
    Ok(Actor::spawn(None, Supervisor, ()).await?.0)
}

/// The counter running now, found by name.
pub fn counter() -> Option<ActorRef<CounterMsg>> {
    ractor::registry::where_is("counter").map(ActorRef::from)
}
