//! A supervised counter that an erl node calls (`rotp_counter` registered on `counter@HOST`):
//! `gen_server:call({counter, 'counter@HOST'}, inc)`, `get`, and `boom`, which crashes it into a
//! restart — with the crash and supervisor reports printed on standard error as erl prints them,
//! though the program sets up no logging. The node starts `epmd -daemon` if none answers.
use otp::application;
use otp::supervisor::{ChildSpec, Flags, Strategy};
use otp::{CallReply, GenServer};
use rotp_node::{Node, NodeConfig};
use runtime::Context;

#[derive(Clone)]
struct Counter;

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum Req {
    Inc,
    Get,
    Boom,
}

impl GenServer for Counter {
    type Args = i64;
    type State = i64;
    type Call = Req;
    type Reply = i64;
    type Cast = ();
    otp::serde_messages!();

    async fn handle_call(
        &self,
        req: Req,
        _: &otp::From,
        n: &mut i64,
        _: &mut Context,
    ) -> CallReply<i64> {
        match req {
            Req::Inc => *n += 1,
            Req::Get => {}
            Req::Boom => panic!("boom"),
        }
        CallReply::Reply(*n)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let node = Node::start(NodeConfig::sname("counter")?).await?;
    let child = ChildSpec::gen_server_named("counter", Counter, 0, Some("counter".into()));
    let flags = Flags::new(Strategy::OneForOne);
    application::run(node.runtime(), "counter_sup", flags, vec![child]).await?;
    Ok(())
}
