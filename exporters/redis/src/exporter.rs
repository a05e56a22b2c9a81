//! The exporter: the default target and the `/scrape` targets, and one scrape — fetch, the
//! collector table through core's runner, the own samples, `--namespace`, encoding.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::HeaderMap;
use mcp_exporter_core::MetricSet;
use mcp_exporter_core::coalesce::Coalescer;
use mcp_exporter_core::collector::CollectorRunner;
use mcp_exporter_core::encoder::Text;
use mcp_exporter_core::web;

use crate::addr::{parse_target, redact_addr};
use crate::collector::{self, Scrape};
use crate::config::{Options, Secret, ValidatedConfig};
use crate::connection::Connector;
use crate::error::Error;
use crate::key_checks::KeyCheck;
use crate::own_metrics::{self, Outcome};
use crate::target::{SharedTarget, Target};

/// The names collectors write carry this prefix; `--namespace` replaces it.
pub const DEFAULT_NAMESPACE: &str = "redis";

/// Everything the handlers share.
pub struct Exporter {
    pub(crate) cfg: ValidatedConfig,
    opts: Arc<Options>,
    pub(crate) default: Option<SharedTarget>,
    targets: Mutex<HashMap<String, (SharedTarget, Instant)>>,
    request_errors: AtomicU64,
    max_timeout: Duration,
    /// Concurrent scrapes of `/metrics` share one collection (see
    /// `mcp_exporter_core::coalesce`); `/scrape` requests carry their own key checks and run
    /// each.
    pub(crate) coalesce: Coalescer,
    runner: CollectorRunner<Scrape>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("default", &self.default)
            .finish()
    }
}

fn build_connector(
    cfg: &ValidatedConfig,
    addr: &str,
    password: Option<&Secret>,
) -> Result<Connector, String> {
    let mut info = parse_target(addr)?;
    if !cfg.user.is_empty() && info.redis.username.is_none() {
        info.redis.username = Some(cfg.user.clone());
    }
    if let Some(p) = password.filter(|p| !p.0.is_empty()) {
        info.redis.password = Some(p.0.clone());
    }
    Connector::new(
        info,
        cfg.tls.as_ref(),
        cfg.skip_tls_verification,
        cfg.max_reply_bytes,
    )
}

impl Exporter {
    /// The exporter over a validated config; scrapes are bounded by `max_timeout`. Nothing
    /// connects until the first scrape.
    pub fn new(cfg: ValidatedConfig, max_timeout: Duration) -> Result<Self, Error> {
        let default = match &cfg.addr {
            Some(addr) => {
                let password = if cfg.password.0.is_empty() {
                    cfg.password_map.get(addr)
                } else {
                    Some(&cfg.password)
                };
                let connector = build_connector(&cfg, addr, password).map_err(Error::Target)?;
                Some(Arc::new(Target::new(redact_addr(addr), connector)))
            }
            None => None,
        };
        Ok(Exporter {
            opts: Arc::new(cfg.opts.clone()),
            cfg,
            default,
            targets: Mutex::new(HashMap::new()),
            request_errors: AtomicU64::new(0),
            max_timeout,
            coalesce: Coalescer::new(),
            runner: collector::runner(),
        })
    }

    /// Counts a bad `/scrape` request.
    pub(crate) fn request_error(&self) {
        self.request_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Password for a target: `--redis.password`, else the password file entry for its URI.
    fn password_for(&self, addr: &str) -> Option<&Secret> {
        if !self.cfg.password.0.is_empty() {
            return Some(&self.cfg.password);
        }
        self.cfg.password_map.get(addr)
    }

    /// The kept target for `addr`, made on first use; the least recently used one is closed past
    /// `--max-scrape-targets`.
    pub(crate) fn target(&self, addr: &str) -> Result<SharedTarget, String> {
        let Ok(mut map) = self.targets.lock() else {
            return Err("internal lock poisoned".into());
        };
        if let Some((t, used)) = map.get_mut(addr) {
            *used = Instant::now();
            return Ok(t.clone());
        }
        let connector = build_connector(&self.cfg, addr, self.password_for(addr))?;
        let target = Arc::new(Target::new(redact_addr(addr), connector));
        if map.len() >= self.cfg.max_targets
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(addr.to_owned(), (target.clone(), Instant::now()));
        Ok(target)
    }

    /// The deadline of a request's scrape.
    pub(crate) fn deadline(&self, headers: &HeaderMap) -> tokio::time::Instant {
        tokio::time::Instant::now() + web::scrape_timeout(headers, self.max_timeout)
    }

    /// One scrape of `target`, encoded.
    pub(crate) async fn scrape(
        &self,
        target: &Target,
        checks: &KeyCheck,
        deadline: tokio::time::Instant,
    ) -> String {
        let start = Instant::now();
        let result = target.fetch(&self.opts, checks, deadline).await;
        let mut out = MetricSet::new();
        let (error, connect, ping) = match result {
            Ok(snap) => {
                let (connect, ping) = (snap.connect_seconds, snap.ping_seconds);
                let scrape = Scrape::new(snap, self.opts.clone());
                self.runner.run(&scrape, deadline, &mut out).await;
                (None, connect, ping)
            }
            Err(error) => (Some(error.to_string()), 0.0, None),
        };
        let duration = start.elapsed().as_secs_f64();
        let (scrapes, duration_sum) = match target.stats.lock() {
            Ok(mut s) => {
                s.scrapes += 1;
                s.duration_sum += duration;
                (s.scrapes, s.duration_sum)
            }
            Err(_) => (0, 0.0),
        };
        own_metrics::write(
            &Outcome {
                error: error.as_deref(),
                duration,
                connect,
                ping,
                scrapes,
                duration_sum,
                request_errors: self.request_errors.load(Ordering::Relaxed),
                redis_only: self.opts.redis_only_metrics,
            },
            &mut out,
        );
        let mut out = apply_namespace(out, &self.opts.namespace);
        if !self.opts.redis_only_metrics {
            mcp_exporter_core::process::collect(&mut out);
        }
        let (text, dropped) = out.encode();
        if dropped > 0 {
            tracing::debug!(dropped, "Dropped duplicate series.");
        }
        text
    }
}

/// `--namespace`: upstream's flag replaces the `redis` prefix of every family the collectors and
/// the own rows write (all of them literal `redis_*` names). The default namespace costs
/// nothing; another one rebuilds the set once per scrape, with the names interned.
pub fn apply_namespace(set: MetricSet, ns: &str) -> MetricSet {
    if ns == DEFAULT_NAMESPACE {
        return set;
    }
    let mut out = MetricSet::new();
    for family in set.families() {
        let name: Text = match family.name.strip_prefix("redis_") {
            Some(rest) => {
                crate::names::interned(&format!("{ns}_{rest}"), || family.help.to_string()).0
            }
            None => family.name.clone(),
        };
        for metric in &family.metrics {
            out.push(
                name.clone(),
                family.help.clone(),
                family.kind,
                metric.labels.clone(),
                metric.value.clone(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_replaces_the_redis_prefix_and_nothing_else() {
        let mut set = MetricSet::new();
        set.gauge("redis_up", "Information about the Redis instance", &[], 1.0);
        set.gauge(
            "process_open_fds",
            "Number of open file descriptors.",
            &[],
            3.0,
        );
        let (text, _) = apply_namespace(set, "cache").encode();
        assert!(text.contains("# HELP cache_up Information about the Redis instance\n"));
        assert!(text.contains("cache_up 1\n"));
        assert!(text.contains("process_open_fds 3\n"));
        assert!(!text.contains("redis_up"));
    }
}
