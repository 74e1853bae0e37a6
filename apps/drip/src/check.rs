//! `drip check [--repair]`: the metadata database against the stored objects and this node's
//! spool, as Nextcloud's `occ files:scan` and Seafile's `seaf-fsck` compare theirs. It works
//! without a node, on what the settings name (`--database`, `--storage`, `--data`), and can
//! run beside a running Drip.
//!
//! What it finds, one line each:
//! - an **orphan object**: an object in storage that no row names;
//! - a **missing object**: a stored file's row whose object is not in storage (the file is
//!   lost: its row only misleads);
//! - a **stale spool file**: a file in the spool whose upload is stored or gone;
//! - an **expired lease**: an upload under way whose node stopped renewing its lease (it was
//!   killed, or is cut off from the database): a running Drip's janitor removes it within a
//!   quarter of `--upload-lease`; `--repair` removes it (its row, then its attempts' objects).
//!
//! An upload under way with its lease current is not a finding: its object may
//! not be written yet, and its spool files and its attempts' objects (its row's key, `.`,
//! the attempt) are in use. Without `--repair` it exits 1 if it
//! found anything; with it, it removes each finding (the object, the row, the spool file)
//! and exits 0 if all went. Run beside a busy Drip it may see a file between two of its
//! steps (an object deleted a moment before its row): look again before repairing.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::config::Config;
use crate::db::uploads::{Entry, UploadState};
use crate::db::Store;
use crate::storage::Storage;

/// Something `drip check` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// An object no row names.
    OrphanObject {
        /// Its key.
        key: String,
    },
    /// A stored file whose object is missing.
    MissingObject {
        /// The file's id.
        id: String,
        /// `path/name`.
        full_path: String,
    },
    /// A spool file nothing will use.
    StaleSpool {
        /// The file.
        path: PathBuf,
    },
    /// An upload under way whose lease ran out.
    ExpiredLease {
        /// The file's id.
        id: String,
        /// `path/name`.
        full_path: String,
        /// The node that held it.
        node: String,
        /// Its row's object key (its attempts' objects are this, `.`, the attempt).
        storage_key: String,
        /// When the lease ran out (ms since the epoch).
        lease_until: i64,
    },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::OrphanObject { key } => write!(f, "orphan object {key}: no file names it"),
            Finding::MissingObject { id, full_path } => {
                write!(
                    f,
                    "missing object: {full_path} ({id}) is stored but its object is not"
                )
            }
            Finding::StaleSpool { path } => {
                write!(
                    f,
                    "stale spool file {}: its upload is stored or gone",
                    path.display()
                )
            }
            Finding::ExpiredLease {
                id,
                full_path,
                node,
                lease_until,
                ..
            } => {
                let ago = crate::db::now_ms().saturating_sub(*lease_until) / 1000;
                write!(
                    f,
                    "expired lease: the upload of {full_path} ({id}) on {node} has not been renewed for {ago} s (that node is gone or cut off; a running Drip removes it)"
                )
            }
        }
    }
}

/// What was looked at, and what was found.
#[derive(Debug, Default)]
pub struct Report {
    /// Files (rows), stored.
    pub files: usize,
    /// Uploads under way (not checked).
    pub under_way: usize,
    /// Objects in storage.
    pub objects: usize,
    /// Files in the spool.
    pub spooled: usize,
    /// The findings.
    pub findings: Vec<Finding>,
}

/// Compares `store` with `storage` and the spool directory `spool`.
pub async fn scan(store: &Store, storage: &Storage, spool: &Path) -> anyhow::Result<Report> {
    let entries = store
        .entries()
        .await
        .context("cannot read the files' rows")?;
    let keys = storage
        .keys()
        .await
        .context("cannot list the stored objects")?;
    let by_key: HashSet<&str> = entries.iter().map(|e| e.storage_key.as_str()).collect();
    let by_id: HashMap<&str, &Entry> = entries.iter().map(|e| (e.id.as_str(), e)).collect();
    let stored_keys: HashSet<&str> = keys.iter().map(String::as_str).collect();
    let mut report = Report {
        files: entries
            .iter()
            .filter(|e| e.state == UploadState::Stored)
            .count(),
        under_way: entries
            .iter()
            .filter(|e| e.state != UploadState::Stored)
            .count(),
        objects: keys.len(),
        ..Report::default()
    };
    // An attempt's object is named after its row's key until the row names it.
    let under_way: HashSet<&str> = entries
        .iter()
        .filter(|e| e.state != UploadState::Stored)
        .map(|e| e.storage_key.as_str())
        .collect();
    let attempt_of_under_way = |key: &str| {
        key.rsplit_once('.')
            .is_some_and(|(row_key, _)| under_way.contains(row_key))
    };
    for key in &keys {
        if !by_key.contains(key.as_str()) && !attempt_of_under_way(key) {
            report
                .findings
                .push(Finding::OrphanObject { key: key.clone() });
        }
    }
    let now = crate::db::now_ms();
    for e in &entries {
        if let (true, Some(lease_until)) = (e.state != UploadState::Stored, e.lease_until) {
            if lease_until < now {
                report.findings.push(Finding::ExpiredLease {
                    id: e.id.clone(),
                    full_path: e.full_path.clone(),
                    node: e.node.clone().unwrap_or_else(|| "?".to_owned()),
                    storage_key: e.storage_key.clone(),
                    lease_until,
                });
            }
        }
        if e.state == UploadState::Stored && !stored_keys.contains(e.storage_key.as_str()) {
            report.findings.push(Finding::MissingObject {
                id: e.id.clone(),
                full_path: e.full_path.clone(),
            });
        }
    }
    let mut spooled: Vec<PathBuf> = match std::fs::read_dir(spool) {
        Ok(dir) => dir.flatten().map(|e| e.path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", spool.display())),
    };
    spooled.sort();
    report.spooled = spooled.len();
    for path in spooled {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let id = name.split('.').next().unwrap_or(&name);
        let in_use = by_id
            .get(id)
            .is_some_and(|e| e.state != UploadState::Stored);
        if !in_use {
            report.findings.push(Finding::StaleSpool { path });
        }
    }
    Ok(report)
}

/// Removes what `finding` names.
pub async fn repair(store: &Store, storage: &Storage, finding: &Finding) -> anyhow::Result<()> {
    match finding {
        Finding::OrphanObject { key } => storage.delete(key).await?,
        Finding::MissingObject { id, .. } => store.delete_media(id).await?,
        Finding::StaleSpool { path } => match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        },
        // Only if its lease is still out: a node that came back in time keeps it.
        Finding::ExpiredLease {
            id, storage_key, ..
        } => {
            if store.reap(id, crate::db::now_ms()).await? {
                for object in storage.attempts_of(storage_key).await? {
                    storage.delete(&object).await?;
                }
            }
        }
    }
    Ok(())
}

/// Checks (and with `repair`, mends) what `config` names: prints a line a finding and a
/// summary; exit 0 when nothing is wrong (or all was repaired), 1 otherwise.
pub async fn run(config: &Config, repair_them: bool) -> anyhow::Result<ExitCode> {
    let store = Store::open(&config.database)
        .await
        .context("cannot open the database")?;
    let storage = Storage::open(&config.storage).context("cannot open the storage")?;
    let report = scan(&store, &storage, &config.data.join("spool")).await?;
    for f in &report.findings {
        println!("{f}");
    }
    let problems = report.findings.len();
    println!(
        "drip check: {} files ({} uploads under way, not checked), {} objects, {} spool files: {}",
        report.files,
        report.under_way,
        report.objects,
        report.spooled,
        match problems {
            0 => "nothing wrong".to_owned(),
            1 => "1 problem".to_owned(),
            n => format!("{n} problems"),
        }
    );
    if problems == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    if !repair_them {
        println!("drip check: run it with --repair to remove them");
        return Ok(ExitCode::from(1));
    }
    let mut repaired = 0;
    for f in &report.findings {
        match repair(&store, &storage, f).await {
            Ok(()) => repaired += 1,
            Err(e) => println!("could not repair ({f}): {e:#}"),
        }
    }
    println!("drip check: repaired {repaired} of {problems}");
    Ok(if repaired == problems {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
