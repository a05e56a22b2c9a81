//! The global `init`: clear errors (port in use, second call), the standalone listener's
//! endpoints, the HTTP layer's route cap, and logs reaching Loki with service/host labels.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use mcp_instrument::{Builder, InitError, LogFormat};
use support::FakeLoki;
use tower::ServiceExt as _;

fn get_text(url: &str) -> (u16, String) {
    let resp = reqwest::blocking::get(url).unwrap();
    (resp.status().as_u16(), resp.text().unwrap())
}

#[test]
fn init_once_serves_metrics_health_and_ships_logs() {
    // A port in use is an error, not a panic, and leaves init retryable.
    let blocker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = Builder::new("svc")
        .ignore_env()
        .metrics_addr(blocker.local_addr().unwrap())
        .init()
        .unwrap_err();
    assert!(matches!(err, InitError::Bind { .. }), "{err}");
    assert!(err.to_string().contains("cannot listen for /metrics"));

    let fake = FakeLoki::start();
    let mut tuning = mcp_instrument::logs::LokiConfig::new("");
    tuning.batch_wait = Duration::from_millis(50);
    let guard = Builder::new("svc")
        .ignore_env()
        .version("1.2.3")
        .instance("box1")
        .metrics_addr("127.0.0.1:0".parse().unwrap())
        .loki_url(fake.url())
        .loki_config(tuning)
        .loki_label("env", "test")
        .log_format(LogFormat::Off)
        .init()
        .unwrap();
    assert!(matches!(
        mcp_instrument::init("svc"),
        Err(InitError::AlreadyInitialized)
    ));

    let base = format!("http://{}", guard.metrics_addr().unwrap());
    assert_eq!(get_text(&format!("{base}/-/healthy")).0, 200);
    assert_eq!(get_text(&format!("{base}/-/ready")).0, 200);
    guard.set_ready(false);
    assert_eq!(get_text(&format!("{base}/-/ready")).0, 503);
    mcp_instrument::set_ready(true);
    assert_eq!(get_text(&format!("{base}/-/ready")).0, 200);

    // HTTP layer: template routes, cap of 2 distinct routes, overflow counted.
    let app = Router::new()
        .route("/a/{id}", get(|| async { "a" }))
        .route("/b", get(|| async { "b" }))
        .route("/c", get(|| async { "c" }))
        .layer(mcp_instrument::HttpMetricsLayer::with_route_cap(2));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut trace_id = String::new();
    rt.block_on(async {
        for path in ["/a/1", "/a/2", "/b", "/c"] {
            let req = http::Request::builder()
                .uri(path)
                .header(
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                )
                .body(axum::body::Body::empty())
                .unwrap();
            let resp = app.clone().oneshot(req).await.unwrap();
            assert_eq!(resp.status(), 200);
            trace_id = resp.headers()["x-trace-id"].to_str().unwrap().to_owned();
        }
    });
    assert_eq!(trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    // Without a traceparent, each request gets a fresh random id.
    let fresh: Vec<String> = rt.block_on(async {
        let mut ids = Vec::new();
        for _ in 0..2 {
            let req = http::Request::builder()
                .uri("/b")
                .body(axum::body::Body::empty())
                .unwrap();
            let resp = app.clone().oneshot(req).await.unwrap();
            ids.push(resp.headers()["x-trace-id"].to_str().unwrap().to_owned());
        }
        ids
    });
    assert_ne!(fresh[0], fresh[1]);
    assert!(
        fresh
            .iter()
            .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
    );

    tracing::info!(order_id = 7, "Order accepted.");
    assert!(fake.wait_for_entries(1, Duration::from_secs(30)));
    let entry = fake.entries().into_iter().next().unwrap();
    assert_eq!(
        entry.labels,
        r#"{service="svc",host="box1",env="test",level="info"}"#
    );
    assert_eq!(entry.json()["order_id"], 7);

    let (status, body) = get_text(&format!("{base}/metrics"));
    assert_eq!(status, 200);
    for want in [
        r#"http_server_requests_total{service="svc",instance="box1",method="GET",route="/a/{id}",status="200"} 2"#,
        r#"http_server_requests_total{service="svc",instance="box1",method="GET",route="/b",status="200"} 3"#,
        r#"http_server_requests_total{service="svc",instance="box1",method="GET",route="other",status="200"} 1"#,
        r#"mcp_http_route_overflow_total{service="svc",instance="box1"} 1"#,
        r#"mcp_build_info{service="svc",instance="box1",version="1.2.3"} 1"#,
        "# TYPE http_server_request_duration_seconds histogram",
        r#"mcp_log_events_sent_total{service="svc",instance="box1"} 1"#,
        r#"mcp_log_events_dropped_total{service="svc",instance="box1",reason="queue_full"} 0"#,
        "# TYPE process_cpu_seconds_total counter",
        "process_resident_memory_bytes{",
        "process_open_fds{",
        "process_max_fds{",
        "process_start_time_seconds{",
        "process_threads{",
    ] {
        assert!(body.contains(want), "missing {want:?} in\n{body}");
    }
    let report = guard.shutdown().unwrap();
    assert!(report.completed);
}
