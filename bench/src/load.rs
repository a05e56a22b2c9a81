//! A small, bounded HTTP load generator: `conc` workers, each with its own keep-alive connection
//! (as a Prometheus server keeps one per target), share a fixed number of scrapes. Loopback only;
//! every request has a timeout and the whole phase a deadline, so a hung exporter cannot hang
//! the bench.
//!
//! A scrape is sent the way Prometheus 2.42 sends it: its `Accept`, `User-Agent` and
//! `X-Prometheus-Scrape-Timeout-Seconds` headers and, unless the phase is plain text,
//! `Accept-Encoding: gzip`. The client does not decompress (reqwest is built without its gzip
//! feature), so the body counted is the body on the wire.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Prometheus 2.42's `Accept` header for scrapes (scrape/scrape.go `scrapeAcceptHeader`).
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

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
    /// Bytes received per successful scrape (status line, headers and body), summed.
    pub wire_bytes: u64,
}

/// How to reach an endpoint and how to ask.
#[derive(Debug, Clone)]
pub struct Target {
    /// Full URL, `http://` or `https://`.
    pub url: String,
    /// Send `Accept-Encoding: gzip` (what Prometheus always sends).
    pub gzip: bool,
    /// Basic-auth user and password.
    pub basic_auth: Option<(String, String)>,
    /// PEM of the CA that signed the listener's certificate (for `https://`).
    pub ca_pem: Option<Arc<Vec<u8>>>,
}

impl Target {
    /// A plain-HTTP target.
    pub fn http(url: String, gzip: bool) -> Self {
        Target {
            url,
            gzip,
            basic_auth: None,
            ca_pem: None,
        }
    }
}

/// One client with one pooled connection to the exporter.
pub fn client(timeout: Duration, target: &Target) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(timeout);
    if let Some(pem) = &target.ca_pem {
        let ca = reqwest::Certificate::from_pem(pem).map_err(|e| format!("CA certificate: {e}"))?;
        b = b.add_root_certificate(ca).tls_built_in_root_certs(false);
    }
    b.build().map_err(|e| e.to_string())
}

/// A successful scrape.
#[derive(Debug)]
pub struct Scraped {
    /// The body as received (gzip when the exporter compressed it).
    pub body: Vec<u8>,
    /// Status line, headers and body length: what came over the connection, less chunk framing.
    pub wire_bytes: u64,
    /// Whether the response said `Content-Encoding: gzip`.
    pub gzipped: bool,
    /// The response's `Content-Type`.
    pub content_type: String,
}

impl Scraped {
    /// The exposition text, decompressed when it came gzipped.
    pub fn text(&self) -> Result<Vec<u8>, String> {
        if !self.gzipped {
            return Ok(self.body.clone());
        }
        let mut out = Vec::with_capacity(self.body.len() * 8);
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(self.body.as_slice()),
            &mut out,
        )
        .map_err(|e| format!("gzip body does not decompress: {e}"))?;
        Ok(out)
    }
}

/// One scrape: status 200 and the body, or why not.
pub async fn scrape(client: &reqwest::Client, target: &Target) -> Result<Scraped, String> {
    let mut req = client
        .get(&target.url)
        .header("accept", PROMETHEUS_ACCEPT)
        .header("user-agent", "Prometheus/2.42.0")
        .header("x-prometheus-scrape-timeout-seconds", "10");
    if target.gzip {
        req = req.header("accept-encoding", "gzip");
    }
    if let Some((user, pass)) = &target.basic_auth {
        req = req.basic_auth(user, Some(pass));
    }
    let resp = req.send().await.map_err(|e| error_chain(&e))?;
    let status = resp.status();
    // "HTTP/1.1 200 OK\r\n", each "name: value\r\n", the blank line.
    let mut head = 17 + 2;
    for (k, v) in resp.headers() {
        head += k.as_str().len() + 2 + v.len() + 2;
    }
    let gzipped = resp
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = resp.bytes().await.map_err(|e| error_chain(&e))?;
    if status.as_u16() != 200 {
        return Err(format!("HTTP {status}"));
    }
    Ok(Scraped {
        wire_bytes: (head + body.len()) as u64,
        body: body.to_vec(),
        gzipped,
        content_type,
    })
}

/// reqwest's message and its causes, which name the real problem (a TLS alert, a refusal).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// Runs `total` scrapes of `target` with `conc` workers; stops starting new scrapes at `deadline`.
pub async fn run(
    target: &Target,
    total: u64,
    conc: u64,
    timeout: Duration,
    deadline: Duration,
) -> Phase {
    let conc = conc.clamp(1, total.max(1));
    let next = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + deadline;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let next = Arc::clone(&next);
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut failed = 0u64;
            let mut bytes = 0u64;
            let mut first_error = None;
            let c = match client(timeout, &target) {
                Ok(c) => c,
                Err(e) => return (lat, failed, bytes, Some(e)),
            };
            while next.fetch_add(1, Ordering::Relaxed) < total {
                if Instant::now() >= end {
                    failed += 1;
                    first_error.get_or_insert_with(|| "phase deadline passed".to_owned());
                    continue;
                }
                let t0 = Instant::now();
                match scrape(&c, &target).await {
                    Ok(s) => {
                        lat.push(t0.elapsed().as_secs_f64());
                        bytes += s.wire_bytes;
                    }
                    Err(e) => {
                        failed += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (lat, failed, bytes, first_error)
        }));
    }
    let mut phase = Phase::default();
    for t in tasks {
        if let Ok((lat, failed, bytes, err)) = t.await {
            phase.latencies.extend(lat);
            phase.failures += failed;
            phase.wire_bytes += bytes;
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
