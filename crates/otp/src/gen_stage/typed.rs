//! Events as `serde` types between stages of different nodes (an Erlang or Elixir gen_stage,
//! another rotp node): [`serde_events!()`](crate::serde_events) in a stage's `impl GenStage`
//! fills [`GenStage::event_from_term`], [`GenStage::event_to_term`] and
//! [`GenStage::serves_other_nodes`] with [`event_from_term`] and [`event_to_term`], so its `In`
//! is read from the terms a BEAM producer sends and its `Out` written as terms a BEAM consumer
//! takes, with [`etf::serde`]'s mapping (structs as atom-keyed maps, variants as atoms and
//! tagged tuples).
//!
//! Between stages of one node events stay Rust values; the term form is only for the wire. An
//! event that does not fit `In` is dropped with an error, as any event a stage cannot take is
//! (the path that did not fit is logged at debug).
//!
//! ```
//! use rotp_otp::gen_stage::typed::event_from_term;
//! use rotp_otp::gen_stage::{ConsumerOptions, GenStage, Init, Return, Subscription};
//! use etf::text::parse;
//! use serde::Deserialize;
//!
//! /// `%{id: 1, item: "apples"}` from an Elixir producer.
//! #[derive(Deserialize, Debug, PartialEq)]
//! struct Order {
//!     id: u64,
//!     item: String,
//! }
//!
//! struct Shipping;
//!
//! impl GenStage for Shipping {
//!     type Args = ();
//!     type State = ();
//!     type In = Order;
//!     type Out = ();
//!
//!     rotp_otp::serde_events!();
//!
//!     async fn init(&self, _: (), _: &mut runtime::Context) -> Init<(), ()> {
//!         Init::Consumer((), ConsumerOptions::default())
//!     }
//!
//!     async fn handle_events(&self, orders: Vec<Order>, _: &Subscription, _: &mut (), _: &mut runtime::Context) -> Return<()> {
//!         for order in orders {
//!             println!("shipping {} #{}", order.item, order.id);
//!         }
//!         Return::NoReply(Vec::new())
//!     }
//! }
//!
//! // An event as a BEAM producer sends it, and as `handle_events` gets it.
//! let event = parse(r#"#{id => 1, item => <<"apples">>}"#)?;
//! assert_eq!(event_from_term::<Shipping>(&event), Some(Order { id: 1, item: "apples".into() }));
//! // One that does not fit is dropped (and logged), not a crash.
//! assert_eq!(event_from_term::<Shipping>(&parse("#{id => one}")?), None);
//! # Ok::<(), etf::text::ParseError>(())
//! ```

use etf::Term;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::GenStage;

/// What [`serde_events!`](crate::serde_events) names; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use etf::Term;
}

/// Fills a [`GenStage`] impl's term hooks so that its events cross nodes through `serde`: one
/// line inside the `impl`. `In` must be `DeserializeOwned` and `Out` `Serialize` (a producer's
/// `In` or a consumer's `Out` may be `()`). Consumers of other nodes may then subscribe.
///
/// ```
/// use rotp_otp::gen_stage::{GenStage, Init, ProducerOptions, Return};
/// use runtime::Context;
/// use serde::Serialize;
///
/// /// `#{id => 1, item => <<"apples">>}` to an Elixir consumer.
/// #[derive(Serialize)]
/// struct Order {
///     id: u64,
///     item: String,
/// }
///
/// struct Orders;
///
/// impl GenStage for Orders {
///     type Args = ();
///     type State = u64;
///     type In = ();
///     type Out = Order;
///
///     rotp_otp::serde_events!();
///
///     async fn init(&self, _: (), _: &mut Context) -> Init<u64, Order> {
///         Init::Producer(0, ProducerOptions::default())
///     }
///
///     async fn handle_demand(&self, demand: usize, next: &mut u64, _: &mut Context) -> Return<Order> {
///         let orders = (0..demand as u64).map(|i| Order { id: *next + i, item: "apples".into() });
///         let orders = orders.collect();
///         *next += demand as u64;
///         Return::NoReply(orders)
///     }
/// }
/// ```
#[macro_export]
macro_rules! serde_events {
    () => {
        fn event_from_term(
            event: $crate::gen_stage::typed::__private::Term,
        ) -> ::core::option::Option<Self::In> {
            $crate::gen_stage::typed::event_from_term::<Self>(&event)
        }

        fn event_to_term(
            event: Self::Out,
        ) -> ::core::option::Option<$crate::gen_stage::typed::__private::Term> {
            $crate::gen_stage::typed::event_to_term::<Self>(&event)
        }

        fn serves_other_nodes() -> bool {
            true
        }
    };
}

/// An event from another node as `G::In`, or `None` (logged at debug with the path that did
/// not fit; the stage logs the drop as an error).
pub fn event_from_term<G: GenStage>(event: &Term) -> Option<G::In>
where
    G::In: DeserializeOwned,
{
    etf::serde::from_term(event)
        .map_err(|e| {
            tracing::debug!(
                "{}: the event {} is not a {}: {e}",
                std::any::type_name::<G>(),
                etf::text::write(event),
                std::any::type_name::<G::In>(),
            )
        })
        .ok()
}

/// An event for another node as a term, or `None` when it has none (a NaN float): logged as a
/// warning, and the event is not sent.
pub fn event_to_term<G: GenStage>(event: &G::Out) -> Option<Term>
where
    G::Out: Serialize,
{
    etf::serde::to_term(event)
        .map_err(|e| {
            tracing::warn!(
                "{}: an event has no term form: {e}",
                std::any::type_name::<G>()
            )
        })
        .ok()
}
