//! The Redis harness: a real server that can be killed, restarted on the same port, and paused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use mcp_testkit::RedisServer;

fn ping(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let _ = s.write_all(b"PING\r\n");
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n > 0 && buf.starts_with(b"+PONG"))
}

#[test]
fn redis_is_killed_restarted_on_the_same_port_and_paused() {
    let mut redis = RedisServer::start().unwrap();
    assert_ne!(redis.port(), 6379);
    assert_eq!(redis.cli(&["SET", "k", "v"]).trim(), "OK");
    assert_eq!(redis.cli(&["GET", "k"]).trim(), "v");
    let port = redis.port();

    redis.kill();
    assert!(!ping(&redis.addr()));
    redis.restart().unwrap();
    assert_eq!(redis.port(), port);
    assert!(ping(&redis.addr()));
    // No persistence: the data is gone after a restart.
    assert_eq!(redis.cli(&["GET", "k"]).trim(), "");

    redis.pause();
    assert!(!ping(&redis.addr()), "a stopped server does not answer");
    redis.resume();
    assert!(ping(&redis.addr()));
}

#[test]
fn two_servers_run_side_by_side_with_their_own_args() {
    let a = RedisServer::start().unwrap();
    let b = RedisServer::start_with_args(&["--maxmemory", "64mb"]).unwrap();
    assert_ne!(a.port(), b.port());
    assert!(b.cli(&["CONFIG", "GET", "maxmemory"]).contains("67108864"));
    assert!(a.cli(&["CONFIG", "GET", "maxmemory"]).contains("\n0"));
}
