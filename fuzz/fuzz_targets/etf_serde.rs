//! `etf::serde` reading any bytes (a peer's message) into the types a program declares: never
//! a panic, and what reads writes back to a term that reads to the same value.
#![no_main]

use std::collections::HashMap;

use etf::serde::{from_bytes, from_term, to_term};
use etf::{Bytes, Term};
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(rename = "Elixir.MyApp.User")]
struct User {
    name: String,
    age: u32,
    nickname: Option<String>,
    avatar: Bytes,
    roles: Vec<Role>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Role {
    Admin,
    Member(u64),
    Guest(String, i128),
    Banned { until: Option<u64> },
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Call {
    Get(String),
    Put { key: String, value: Bytes },
    Subscribe(Term),
    Stats,
}

/// Reads `T`; when it reads, writing it and reading again gives the same value.
fn check<T>(data: &[u8])
where
    T: serde::de::DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = from_bytes::<T>(data) {
        let term = to_term(&value).expect("a value read from a term writes");
        assert_eq!(from_term::<T>(&term).expect("what we write reads"), value);
    }
}

fuzz_target!(|data: &[u8]| {
    check::<User>(data);
    check::<Result<Vec<Call>, Role>>(data);
    check::<HashMap<String, (u8, f64, bool)>>(data);
    check::<Option<(char, u128)>>(data);
    // Borrowing reads too.
    if let Ok(term) = etf::decode(data) {
        let _ = from_term::<(&str, &[u8])>(&term);
        let _ = from_term::<Vec<&str>>(&term);
    }
});
