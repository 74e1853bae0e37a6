//! Drip's own metrics beside the node's (`window::metrics`): HTTP requests with the names
//! Elixir's `prometheus_plugs` gives them (`http_requests_total`,
//! `http_request_duration_microseconds`, by method and status class) and
//! `drip_storage_store_seconds`, a histogram of object writes, and `drip_cache_lookups_total`
//! by `result` (hit or miss).

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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
        Metrics {
            registry,
            requests,
            durations,
            store,
            cache,
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

    /// The text exposition (OpenMetrics, without its `# EOF`, for joining with the node's).
    pub fn exposition(&self) -> String {
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out.trim_end().trim_end_matches("# EOF").to_owned()
    }
}
