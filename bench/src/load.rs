//! A small, bounded HTTP load generator: `conc` workers, each with its own keep-alive connection
//! (as a Prometheus server keeps one per target), share a fixed number of scrapes. Loopback only;
//! every request has a timeout and the whole phase a deadline, so a hung exporter cannot hang
//! the bench.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a phase did.
#[derive(Debug, Default)]
pub struct Phase {
    /// Latency of every successful scrape (full body read), seconds.
    pub latencies: Vec<f64>,
    /// Scrapes that failed: connection error, timeout, non-200, or not attempted before the
    /// phase deadline.
    pub failures: u64,
    /// Why the first failed scrape failed.
    pub first_error: Option<String>,
    /// Wall time of the phase, seconds.
    pub wall: f64,
}

/// One client with one pooled connection to the exporter.
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(timeout)
        .build()
}

/// One scrape: status 200 and the body, or why not.
pub async fn scrape(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
    let resp = client.get(url).send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    if status.as_u16() != 200 {
        return Err(format!("HTTP {status}"));
    }
    Ok(body.to_vec())
}

/// Runs `total` scrapes of `url` with `conc` workers; stops starting new scrapes at `deadline`.
pub async fn run(url: &str, total: u64, conc: u64, timeout: Duration, deadline: Duration) -> Phase {
    let conc = conc.clamp(1, total.max(1));
    let next = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + deadline;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let next = Arc::clone(&next);
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut failed = 0u64;
            let mut first_error = None;
            let c = match client(timeout) {
                Ok(c) => c,
                Err(e) => return (lat, failed, Some(e.to_string())),
            };
            while next.fetch_add(1, Ordering::Relaxed) < total {
                if Instant::now() >= end {
                    failed += 1;
                    first_error.get_or_insert_with(|| "phase deadline passed".to_owned());
                    continue;
                }
                let t0 = Instant::now();
                match scrape(&c, &url).await {
                    Ok(_) => lat.push(t0.elapsed().as_secs_f64()),
                    Err(e) => {
                        failed += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (lat, failed, first_error)
        }));
    }
    let mut phase = Phase::default();
    for t in tasks {
        if let Ok((lat, failed, err)) = t.await {
            phase.latencies.extend(lat);
            phase.failures += failed;
            if phase.first_error.is_none() {
                phase.first_error = err;
            }
        }
    }
    // Scrapes never handed out (a worker could not build its client) are failures too.
    let done = phase.latencies.len() as u64 + phase.failures;
    phase.failures += total.saturating_sub(done);
    phase.wall = start.elapsed().as_secs_f64();
    phase
}

/// Nearest-rank percentile of unsorted values (`p` in 0..=1); NaN when empty.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
