//! Drip's own metrics beside the node's (`window::metrics`): HTTP requests with the names
//! Elixir's `prometheus_plugs` gives them (`http_requests_total`,
//! `http_request_duration_microseconds`, by method and status class) and
//! `drip_storage_store_seconds`, a histogram of object writes, and `drip_cache_lookups_total`
//! by `result` (hit or miss).
//!
//! For the alert rules (`deploy/kubernetes/common/monitoring.yaml`): each pipeline's queue
//! (`drip_pipeline_tasks_waiting`, `drip_pipeline_tasks_out`,
//! `drip_pipeline_tasks_done_total`, and `drip_pipeline_bytes_total`, the bytes of the files
//! those tasks carried, by `pipeline`), the object store's failed tries
//! (`drip_storage_errors_total`, by `operation`: each failed try counts, including those
//! tried again), and the file system of the data directory (which holds the spool) as
//! node_exporter names a file system's figures: `drip_data_filesystem_avail_bytes` (free to
//! Drip, not counting what only root may use) and `drip_data_filesystem_size_bytes`.

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// The metrics, shared by the app.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    durations: Family<Labels, Histogram>,
    store: Histogram,
    cache: Family<Labels, Counter>,
    storage_errors: Family<Labels, Counter>,
    tasks_waiting: Family<Labels, Gauge>,
    tasks_out: Family<Labels, Gauge>,
    tasks_done: Family<Labels, Counter>,
    task_bytes: Family<Labels, Counter>,
    filesystem_avail: Gauge,
    filesystem_size: Gauge,
    /// When the last request was answered (ms since the epoch).
    last_request: std::sync::atomic::AtomicI64,
    /// The node's exposition, and when it was made: one snapshot serves every scrape for a
    /// few seconds, and only one is made at a time.
    node: tokio::sync::Mutex<Option<(std::time::Instant, String)>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<Labels, Counter>::default();
        let durations = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(100.0, 4.0, 10))
        });
        let store = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "http_requests",
            "Total number of HTTP requests made",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_microseconds",
            "The HTTP request latencies in microseconds",
            durations.clone(),
        );
        registry.register(
            "drip_storage_store_seconds",
            "Seconds an object write to storage took",
            store.clone(),
        );
        let cache = Family::<Labels, Counter>::default();
        registry.register(
            "drip_cache_lookups",
            "Download requests by whether the file's cache was running (hit) or not (miss)",
            cache.clone(),
        );
        let storage_errors = Family::<Labels, Counter>::default();
        // Every operation's series exists from the start (at 0), so a rule reading it has
        // something to read before the first failure.
        for operation in StorageOp::ALL {
            let _ = storage_errors.get_or_create(&operation.labels());
        }
        registry.register(
            "drip_storage_errors",
            "Tries of an object store operation that failed (each try, including those tried again)",
            storage_errors.clone(),
        );
        let tasks_waiting = Family::<Labels, Gauge>::default();
        registry.register(
            "drip_pipeline_tasks_waiting",
            "Tasks waiting in a pipeline's queue, not yet handed to its stages",
            tasks_waiting.clone(),
        );
        let tasks_out = Family::<Labels, Gauge>::default();
        registry.register(
            "drip_pipeline_tasks_out",
            "Tasks a pipeline's stages hold: handed out by its queue and not done",
            tasks_out.clone(),
        );
        let tasks_done = Family::<Labels, Counter>::default();
        registry.register(
            "drip_pipeline_tasks_done",
            "Tasks that left a pipeline: done, or reported failed to their user",
            tasks_done.clone(),
        );
        let task_bytes = Family::<Labels, Counter>::default();
        registry.register(
            "drip_pipeline_bytes",
            "Bytes of the files whose tasks left a pipeline: uploads stored, downloads made ready (or either reported failed)",
            task_bytes.clone(),
        );
        let filesystem_avail = Gauge::default();
        registry.register(
            "drip_data_filesystem_avail_bytes",
            "Bytes free to Drip on the file system of its data directory (which holds the spool)",
            filesystem_avail.clone(),
        );
        let filesystem_size = Gauge::default();
        registry.register(
            "drip_data_filesystem_size_bytes",
            "Size in bytes of the file system of Drip's data directory",
            filesystem_size.clone(),
        );
        Metrics {
            registry,
            requests,
            durations,
            store,
            cache,
            storage_errors,
            tasks_waiting,
            tasks_out,
            tasks_done,
            task_bytes,
            filesystem_avail,
            filesystem_size,
            node: tokio::sync::Mutex::new(None),
            last_request: std::sync::atomic::AtomicI64::new(0),
        }
    }
}

impl Metrics {
    /// Counts a request.
    pub fn request(&self, method: &str, status: u16, took: Duration) {
        let labels = vec![
            ("method".to_owned(), method.to_owned()),
            ("status_class".to_owned(), format!("{}xx", status / 100)),
        ];
        self.requests.get_or_create(&labels).inc();
        self.last_request
            .store(crate::db::now_ms(), std::sync::atomic::Ordering::Relaxed);
        self.durations
            .get_or_create(&labels[..1].to_vec())
            .observe(took.as_secs_f64() * 1e6);
    }

    /// The node's exposition, made by `make` unless one younger than `fresh` is at hand
    /// (scrapes that come while one is made wait for it).
    pub async fn node_snapshot(
        &self,
        fresh: Duration,
        make: impl AsyncFnOnce() -> String,
    ) -> String {
        let mut held = self.node.lock().await;
        if let Some((at, text)) = held.as_ref() {
            if at.elapsed() < fresh {
                return text.clone();
            }
        }
        let text = make().await;
        *held = Some((std::time::Instant::now(), text.clone()));
        text
    }

    /// When the last request was answered (ms since the epoch; 0 before the first).
    pub fn last_request_ms(&self) -> i64 {
        self.last_request.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts an object write.
    pub fn stored(&self, took: Duration) {
        self.store.observe(took.as_secs_f64());
    }

    /// Counts a download request its file's cache answered.
    pub fn cache_hit(&self) {
        self.cache
            .get_or_create(&vec![("result".to_owned(), "hit".to_owned())])
            .inc();
    }

    /// Counts a download request that went to the pipeline.
    pub fn cache_miss(&self) {
        self.cache
            .get_or_create(&vec![("result".to_owned(), "miss".to_owned())])
            .inc();
    }

    /// Counts a failed try of an object store operation.
    pub fn storage_error(&self, operation: StorageOp) {
        self.storage_errors.get_or_create(&operation.labels()).inc();
    }

    /// The figures of the pipeline `name` (`upload`, `download`), for its queue to keep.
    pub fn pipeline(&self, name: &str) -> PipelineFigures {
        let labels = vec![("pipeline".to_owned(), name.to_owned())];
        PipelineFigures {
            waiting: self.tasks_waiting.get_or_create(&labels).clone(),
            out: self.tasks_out.get_or_create(&labels).clone(),
            done: self.tasks_done.get_or_create(&labels).clone(),
            bytes: self.task_bytes.get_or_create(&labels).clone(),
        }
    }

    /// Reads the file system figures of `dir` (the data directory) for the next scrape; a
    /// directory that cannot be read leaves the last figures (and says why).
    pub fn read_filesystem(&self, dir: &std::path::Path) -> Result<(), nix::Error> {
        let fs = nix::sys::statvfs::statvfs(dir)?;
        let unit = fs.fragment_size();
        let bytes = |blocks: u64| i64::try_from(blocks.saturating_mul(unit)).unwrap_or(i64::MAX);
        self.filesystem_avail.set(bytes(fs.blocks_available()));
        self.filesystem_size.set(bytes(fs.blocks()));
        Ok(())
    }

    /// The text exposition (OpenMetrics, without its `# EOF`, for joining with the node's).
    pub fn exposition(&self) -> String {
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        // Without a blank line before the node's families: OpenMetrics has none, and
        // Prometheus refuses a scrape with one ("\n" is not a valid start token).
        out.trim_end()
            .trim_end_matches("# EOF")
            .trim_end()
            .to_owned()
    }
}

/// An object store operation, as `drip_storage_errors_total` labels it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageOp {
    /// Storing an object.
    Write,
    /// Reading one.
    Read,
    /// Deleting one.
    Delete,
}

impl StorageOp {
    /// Every operation.
    pub const ALL: [StorageOp; 3] = [StorageOp::Write, StorageOp::Read, StorageOp::Delete];

    /// Its label value.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageOp::Write => "write",
            StorageOp::Read => "read",
            StorageOp::Delete => "delete",
        }
    }

    fn labels(self) -> Labels {
        vec![("operation".to_owned(), self.as_str().to_owned())]
    }
}

/// One pipeline's figures, kept by its queue (clones share the values).
#[derive(Clone, Debug, Default)]
pub struct PipelineFigures {
    waiting: Gauge,
    out: Gauge,
    done: Counter,
    bytes: Counter,
}

impl PipelineFigures {
    /// The queue holds `waiting` tasks and has `out` handed out now.
    pub fn holding(&self, waiting: usize, out: usize) {
        self.waiting.set(i64::try_from(waiting).unwrap_or(i64::MAX));
        self.out.set(i64::try_from(out).unwrap_or(i64::MAX));
    }

    /// A task carrying a file of `bytes` left the pipeline.
    pub fn done(&self, bytes: u64) {
        self.done.inc();
        self.bytes.inc_by(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_families_are_in_the_exposition_from_the_start() {
        let m = Metrics::default();
        m.pipeline("upload").holding(3, 1);
        m.storage_error(StorageOp::Write);
        m.read_filesystem(std::path::Path::new("."))
            .expect("statvfs");
        let text = m.exposition();
        for line in [
            "drip_storage_errors_total{operation=\"write\"} 1",
            "drip_storage_errors_total{operation=\"read\"} 0",
            "drip_pipeline_tasks_waiting{pipeline=\"upload\"} 3",
            "drip_pipeline_tasks_out{pipeline=\"upload\"} 1",
            "drip_pipeline_tasks_done_total{pipeline=\"upload\"} 0",
            "drip_pipeline_bytes_total{pipeline=\"upload\"} 0",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(!text.contains("\n\n") && !text.ends_with('\n'), "{text}");
        let size = text
            .lines()
            .find_map(|l| l.strip_prefix("drip_data_filesystem_size_bytes "))
            .and_then(|v| v.parse::<i64>().ok())
            .expect("a size");
        assert!(size > 0, "{text}");
    }
}
