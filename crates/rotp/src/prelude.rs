//! What a program needs, in one line: `use rotp::prelude::*;`.
//!
//! ```
//! use rotp::prelude::*;
//!
//! let t: Term = tuple!(atom!(ok), list![1, 2, 3]);
//! assert_eq!(rotp::etf::text::write(&t), "{ok,[1,2,3]}");
//! ```
//!
//! Two names are left out on purpose, so that the prelude never shadows the standard
//! library's or the other behaviour's: a `GenServer`'s caller is `gen_server::From` (std has
//! `From`), and a `GenStage`'s `init` result is `gen_stage::Init` (the prelude's [`Init`] is
//! the `GenServer`'s).

pub use crate::{atom, list, map, serde_events, serde_messages, tuple};
pub use crate::{Application, Error};

pub use rotp_etf::{Atom, Pid, Reference, Term};
pub use rotp_runtime::{Context, ExitReason, Message, Runtime, TimerFired, TimerRef};

pub use rotp_otp::agent;
pub use rotp_otp::dynamic_supervisor::{self, DynamicSupervisor};
pub use rotp_otp::gen_server::{self, CallReply, GenServer, Init, Name, NoReply, ServerRef};
pub use rotp_otp::gen_stage::{self, GenStage};
pub use rotp_otp::registry::{self, Registry};
pub use rotp_otp::supervisor::{self, ChildSpec, Flags, Restart, Strategy, Supervisor};
pub use rotp_otp::task::{self, Task};

#[cfg(feature = "dist")]
pub use rotp_node::{Node, NodeConfig};

pub use serde::{Deserialize, Serialize};
