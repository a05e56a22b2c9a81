//! The web layer end to end on real sockets: plain HTTP with the landing page, health and gzip;
//! HTTPS with a real certificate and a real client; basic auth with right and wrong passwords; and
//! the text output passes `promtool check metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use http::HeaderMap;
use mcp_exporter_core::MetricSet;
use mcp_exporter_core::web::{self, LandingPage, WebArgs, WebSetup};

async fn metrics(headers: HeaderMap) -> axum::response::Response {
    let mut set = MetricSet::new();
    set.gauge("demo_up", "Whether the demo is up.", &[], 1.0);
    set.counter(
        "demo_requests_total",
        "Requests seen.",
        &[("path", "/a\"b\\c\nd")],
        12345678.0,
    );
    mcp_exporter_core::process::collect(&mut set);
    let (text, _) = set.encode();
    web::metrics_response(text, &headers)
}

struct Running {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(config_file: Option<&Path>, tls: bool) -> Running {
    let port = mcp_testkit::free_port();
    let args = WebArgs {
        listen_address: vec![format!("127.0.0.1:{port}")],
        telemetry_path: "/metrics".into(),
        config_file: config_file.map(Path::to_path_buf),
        max_scrape_timeout: Duration::from_secs(10),
    };
    let setup = WebSetup::from_args(&args, ":0").unwrap();
    assert_eq!(setup.is_tls(), tls);
    let router = web::finish_router(
        Router::new().route("/metrics", get(metrics)),
        &setup,
        LandingPage {
            name: "demo-exporter",
            description: "A test exporter.",
            version: "0.0.0",
            links: vec![],
        },
    );
    let listeners = web::bind(&setup).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        web::serve(listeners, &setup, router, async {
            let _ = rx.await;
        })
        .await;
    });
    let scheme = if tls { "https" } else { "http" };
    Running {
        base: format!("{scheme}://127.0.0.1:{port}"),
        stop: Some(tx),
        task,
    }
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("graceful shutdown within 10 s")
            .unwrap();
    }
}

#[tokio::test]
async fn plain_http_serves_landing_health_metrics_and_gzip() {
    let server = start(None, false).await;
    let client = reqwest::Client::new();
    let landing = client.get(&server.base).send().await.unwrap();
    assert_eq!(landing.status(), 200);
    assert!(landing.text().await.unwrap().contains("href=\"/metrics\""));
    let healthy = client
        .get(format!("{}/-/healthy", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(healthy.status(), 200);

    let res = client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = res.text().await.unwrap();
    assert!(text.contains("demo_requests_total{path=\"/a\\\"b\\\\c\\nd\"} 1.2345678e+07\n"));
    assert!(text.contains("# TYPE process_cpu_seconds_total counter\n"));

    // promtool, the reference parser and linter, accepts the output.
    mcp_testkit::promtool_check_metrics(&text).unwrap();

    // gzip when asked (raw bytes: reqwest here does not decompress).
    let res = client
        .get(format!("{}/metrics", server.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-encoding"], "gzip");
    let body = res.bytes().await.unwrap();
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut unzipped)
        .unwrap();
    assert!(unzipped.contains("demo_up 1\n"));
    server.stop().await;
}

#[tokio::test]
async fn https_with_basic_auth_accepts_right_password_only() {
    let dir = tempfile::tempdir().unwrap();
    let cert = mcp_testkit::certs::server_cert(dir.path(), "", &["IP:127.0.0.1", "DNS:localhost"]);
    let ca = std::fs::read(&cert.ca).unwrap();
    let hash = bcrypt::hash("s3cret-pass", 4).unwrap();
    let config = dir.path().join("web.yml");
    std::fs::write(
        &config,
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prom: {hash}\n"
        ),
    )
    .unwrap();
    let server = start(Some(&config), true).await;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let url = format!("{}/metrics", server.base);

    let none = client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Basic");
    let wrong = client
        .get(&url)
        .basic_auth("prom", Some("guess"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let unknown = client
        .get(&url)
        .basic_auth("mallory", Some("s3cret-pass"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 401);
    for _ in 0..3 {
        // Repeated: the second and third hit the verified-credentials cache.
        let ok = client
            .get(&url)
            .basic_auth("prom", Some("s3cret-pass"))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        assert!(ok.text().await.unwrap().contains("demo_up 1\n"));
    }
    // Plain HTTP against the TLS port gets no metrics.
    let plain = reqwest::get(url.replace("https://", "http://")).await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
    server.stop().await;
}

#[test]
fn bad_web_config_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("unknown: key\n", "unknown field"),
        (
            "basic_auth_users:\n  prom: plaintext\n",
            "not a bcrypt hash",
        ),
        (
            "tls_server_config:\n  cert_file: missing.pem\n  key_file: missing.pem\n",
            "cert_file",
        ),
    ];
    for (text, want) in cases {
        let path = dir.path().join("web.yml");
        std::fs::write(&path, text).unwrap();
        let args = WebArgs {
            listen_address: vec!["127.0.0.1:0".into()],
            telemetry_path: "/metrics".into(),
            config_file: Some(path),
            max_scrape_timeout: Duration::from_secs(1),
        };
        let error = WebSetup::from_args(&args, ":0").unwrap_err().to_string();
        assert!(error.contains(want), "{error:?} should mention {want:?}");
        assert_eq!(error.lines().count(), 1, "one line: {error:?}");
    }
    let args = WebArgs {
        listen_address: vec![],
        telemetry_path: "/metrics".into(),
        config_file: Some(dir.path().join("absent.yml")),
        max_scrape_timeout: Duration::from_secs(1),
    };
    assert!(WebSetup::from_args(&args, ":0").is_err());
}
