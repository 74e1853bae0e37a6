//! Rust types as a user of `rotp_etf::serde` writes them, and proptest strategies for them: nested
//! structs (plain and Elixir), enums with every kind of variant, options, maps, big integers,
//! bytes and raw terms.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use rotp_etf::{Bytes, Term};
use serde::{Deserialize, Serialize};

/// Every kind of variant, one nested.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Tick,
    Moved(i64),
    Renamed(u8, String),
    Resized { w: u32, h: Option<u32> },
    Nested(Box<Event>),
}

/// A tuple struct.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Point(pub i32, pub i32);

/// A plain struct: a map with atom keys.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub age: u8,
    pub score: f64,
    pub tags: Vec<String>,
    pub avatar: Bytes,
    pub balance: i128,
    pub supply: u128,
    pub nickname: Option<String>,
    pub events: Vec<Event>,
    pub counts: BTreeMap<String, u64>,
    pub by_id: HashMap<u32, Option<Event>>,
    pub at: Point,
    pub pair: (bool, char),
    pub last: Result<Point, Event>,
    pub ack: (),
}

/// An Elixir struct, `%MyApp.Account{}`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename = "Elixir.MyApp.Account")]
pub struct Account {
    pub owner: Profile,
    pub members: Vec<Profile>,
    pub extra: Term,
}

pub fn event() -> impl Strategy<Value = Event> {
    let leaf = prop_oneof![
        Just(Event::Tick),
        any::<i64>().prop_map(Event::Moved),
        (any::<u8>(), "\\PC{0,8}").prop_map(|(a, b)| Event::Renamed(a, b)),
        (any::<u32>(), any::<Option<u32>>()).prop_map(|(w, h)| Event::Resized { w, h }),
    ];
    leaf.prop_recursive(3, 6, 1, |inner| {
        inner.prop_map(|e| Event::Nested(Box::new(e)))
    })
}

fn point() -> impl Strategy<Value = Point> {
    (any::<i32>(), any::<i32>()).prop_map(|(x, y)| Point(x, y))
}

pub fn profile() -> impl Strategy<Value = Profile> {
    (
        (
            "\\PC{0,12}",
            any::<u8>(),
            any::<f64>().prop_filter("finite", |f| f.is_finite()),
            prop::collection::vec("[a-z]{0,6}", 0..4),
            prop::collection::vec(any::<u8>(), 0..20).prop_map(Bytes::from),
            any::<i128>(),
            any::<u128>(),
            proptest::option::of("\\PC{0,6}"),
        ),
        (
            prop::collection::vec(event(), 0..4),
            prop::collection::btree_map("\\PC{0,5}", any::<u64>(), 0..4),
            prop::collection::hash_map(any::<u32>(), proptest::option::of(event()), 0..3),
            point(),
            (any::<bool>(), any::<char>()),
            prop_oneof![point().prop_map(Ok), event().prop_map(Err)],
        ),
    )
        .prop_map(
            |(
                (name, age, score, tags, avatar, balance, supply, nickname),
                (events, counts, by_id, at, pair, last),
            )| Profile {
                name,
                age,
                score,
                tags,
                avatar,
                balance,
                supply,
                nickname,
                events,
                counts,
                by_id,
                at,
                pair,
                last,
                ack: (),
            },
        )
}

pub fn account(extra: impl Strategy<Value = Term>) -> impl Strategy<Value = Account> {
    (profile(), prop::collection::vec(profile(), 0..3), extra).prop_map(
        |(owner, members, extra)| Account {
            owner,
            members,
            extra,
        },
    )
}
