//! `drip keys rotate`: a new master key, and every file key re-wrapped under it (bound to its
//! file and owner, as new keys are); the objects are not rewritten, since their keys do not
//! change. Stop Drip's nodes first, as for any maintenance of the keys.
//!
//! The new key becomes `master.key` at once and the old one `master.key.old`, which every
//! node reads too: a key still wrapped under it (a rotation cut short, or a node that was left
//! running) keeps opening, and running the command again re-wraps what is left. Once it
//! reports nothing left and every node has been restarted, `master.key.old` can go (keep a
//! backup of `master.key`: without it no file opens).

use std::process::ExitCode;

use anyhow::Context as _;

use crate::config::Config;
use crate::crypto::{Binding, MasterKeys};
use crate::db::Store;

/// Keys read from the store at once.
const PAGE: i64 = 500;

/// Rotates (or, with an old key still present, finishes rotating) the master key.
pub async fn run(config: &Config) -> anyhow::Result<ExitCode> {
    let store = Store::open(&config.database).await?;
    let keys = &config.keys;
    let (fresh, master) = match crate::keys::old_master_key(keys)? {
        Some(old) => {
            println!(
                "master.key.old is still here: re-wrapping what is still under it (remove it to rotate again)"
            );
            let current = crate::keys::master_key(keys)?;
            (
                false,
                MasterKeys {
                    current,
                    old: Some(old),
                },
            )
        }
        None => {
            let old = crate::keys::master_key(keys)?;
            let current =
                crate::keys::replace_master_key(keys).context("cannot write the new master key")?;
            (
                true,
                MasterKeys {
                    current,
                    old: Some(old),
                },
            )
        }
    };
    let (mut moved, mut after) = (0u64, String::new());
    let mut unreadable = Vec::new();
    loop {
        let page = store.wrapped_keys(&after, PAGE).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.media_id.clone();
        for k in page {
            let file = Binding {
                media_id: &k.media_id,
                owner_id: &k.owner_id,
            };
            let Ok(bytes) = hex::decode(&k.wrapped_key) else {
                unreadable.push(k.media_id);
                continue;
            };
            if master.current.wrapped(&bytes) && master.current.unwrap(&bytes, file).is_ok() {
                continue;
            }
            match master.unwrap(&bytes, file) {
                Ok(file_key) => {
                    let now = hex::encode(master.wrap(&file_key, file));
                    if store.rewrap(&k.media_id, &k.wrapped_key, &now).await? {
                        moved += 1;
                    }
                }
                Err(_) => unreadable.push(k.media_id),
            }
        }
    }
    println!(
        "{} master key {}: re-wrapped {moved} file keys",
        if fresh { "new" } else { "current" },
        master.current.id()
    );
    for id in &unreadable {
        println!("file {id}: its key opens with neither master key");
    }
    println!(
        "restart every node (each reads the new master.key at start); once they all run, remove {} (keep a backup of master.key)",
        keys.join("master.key.old").display()
    );
    Ok(if unreadable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
