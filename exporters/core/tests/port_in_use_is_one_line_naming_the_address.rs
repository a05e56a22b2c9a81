//! Issue 17, item 5 (core's part): a port in use made each standalone exporter print four lines
//! (anyhow's "Caused by" block from the `#[source]` io::Error). The bind error is now a single
//! sentence naming the address, with no source chain for `anyhow` to unroll.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use mcp_exporter_core::web::{self, WebArgs, WebError, WebSetup};

#[tokio::test]
async fn a_port_in_use_is_one_line_that_names_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let args = WebArgs {
        listen_address: vec![addr.to_string()],
        telemetry_path: "/metrics".into(),
        config_file: None,
        max_scrape_timeout: Duration::from_secs(10),
    };
    let setup = WebSetup::from_args(&args, ":0").unwrap();
    let error = web::bind(&setup).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("cannot listen on {addr}: address in use")
    );
    assert!(
        std::error::Error::source(&error).is_none(),
        "no cause chain: anyhow would print it as more lines"
    );
    assert!(matches!(
        error,
        WebError::Bind {
            kind: std::io::ErrorKind::AddrInUse,
            ..
        }
    ));
    // What a main's `anyhow` prints with `{:?}`: still the one line.
    let printed = anyhow_like(&error);
    assert_eq!(printed.lines().count(), 1, "{printed}");
}

/// The Display of the error and of each source, joined the way anyhow's `{:?}` would list them.
fn anyhow_like(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        out.push_str("\n\nCaused by:\n    ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
