//! A PostgreSQL wire-protocol server that speaks just enough of protocol 3.0 for tokio-postgres:
//! it either replays rows captured from a real server (golden tests of the collectors, with no
//! server running), or misbehaves on purpose (hostile-backend tests).
//!
//! Replay fixtures are JSON: `{"statements": [{"sql": "...", "columns": [["name", "float8"], ...],
//! "rows": [[1.5, null, "x"], ...]}]}`, with column types `bool`, `int4`, `int8`, `float8` and
//! `text`. A statement that is not in the fixture is answered with an error naming it, so a
//! changed SQL text fails loudly (capture again) instead of yielding nothing.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// One captured statement and its rows.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The SQL text, exactly as the client sends it.
    pub sql: String,
    /// `(column name, type name)`.
    pub columns: Vec<(String, String)>,
    /// Cells: JSON numbers, strings, booleans, or null.
    pub rows: Vec<Vec<serde_json::Value>>,
}

/// Parses a replay fixture (see the module doc).
pub fn parse_fixture(text: &str) -> Result<Vec<Statement>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let list = v["statements"]
        .as_array()
        .ok_or("fixture has no \"statements\" array")?;
    let mut out = Vec::new();
    for s in list {
        let sql = s["sql"].as_str().ok_or("statement without sql")?.to_owned();
        let columns = s["columns"]
            .as_array()
            .ok_or("statement without columns")?
            .iter()
            .map(|c| {
                Some((
                    c.get(0)?.as_str()?.to_owned(),
                    c.get(1)?.as_str()?.to_owned(),
                ))
            })
            .collect::<Option<Vec<_>>>()
            .ok_or("bad column")?;
        let rows = s["rows"]
            .as_array()
            .ok_or("statement without rows")?
            .iter()
            .map(|r| r.as_array().cloned().ok_or("row is not an array"))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Statement { sql, columns, rows });
    }
    Ok(out)
}

/// Writes a replay fixture (pretty JSON, one statement after another).
pub fn write_fixture(statements: &[Statement]) -> String {
    let list: Vec<serde_json::Value> = statements
        .iter()
        .map(|s| {
            serde_json::json!({
                "sql": s.sql,
                "columns": s.columns.iter().map(|(n, t)| serde_json::json!([n, t])).collect::<Vec<_>>(),
                "rows": s.rows,
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&serde_json::json!({ "statements": list }))
        .unwrap_or_default();
    text.push('\n');
    text
}

/// How the server behaves after the startup handshake.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Answers statements from the captured rows.
    Replay(Arc<Vec<Statement>>),
    /// Answers the first statement with a message header announcing ~2 GiB, then sends zeros
    /// until the client goes away.
    HugeMessage,
    /// Announces a huge message already during the handshake, before authentication.
    HugeStartup,
    /// Replays the statements given (e.g. the version query of the handshake) and answers any
    /// other statement with data rows without end.
    EndlessRows(Arc<Vec<Statement>>),
}

/// A fake server on a free loopback port; it stops accepting when dropped.
#[derive(Debug)]
pub struct FakePostgres {
    port: u16,
    stop: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
    streamed: Arc<AtomicUsize>,
}

impl FakePostgres {
    /// Starts serving `behaviour` on `127.0.0.1:<free port>`.
    pub fn start(behaviour: Behaviour) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let streamed = Arc::new(AtomicUsize::new(0));
        let (s, c, b) = (stop.clone(), connections.clone(), streamed.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        c.fetch_add(1, Ordering::Relaxed);
                        let behaviour = behaviour.clone();
                        let (s, b) = (s.clone(), b.clone());
                        std::thread::spawn(move || {
                            let _ = stream.set_nonblocking(false);
                            let _ = serve(stream, &behaviour, &s, &b);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(Self {
            port,
            stop,
            connections,
            streamed,
        })
    }

    /// Starts replaying the fixture text (see the module doc).
    pub fn replay(fixture: &str) -> Result<Self, String> {
        let statements = parse_fixture(fixture)?;
        Self::start(Behaviour::Replay(Arc::new(statements))).map_err(|e| e.to_string())
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A DSN for it (no TLS, no password).
    pub fn dsn(&self) -> String {
        format!(
            "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Bytes a hostile behaviour's stream or the replies to `Execute` (the data rows, of any
    /// behaviour) managed to send so far, over all connections.
    pub fn streamed(&self) -> usize {
        self.streamed.load(Ordering::Relaxed)
    }
}

impl Drop for FakePostgres {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(body.len() + 5);
    m.push(kind);
    m.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn cstr(buf: &[u8], at: &mut usize) -> String {
    let start = (*at).min(buf.len());
    let end = buf[start..]
        .iter()
        .position(|&b| b == 0)
        .map_or(buf.len(), |p| start + p);
    *at = end + 1;
    String::from_utf8_lossy(&buf[start..end]).into_owned()
}

fn error_response(message: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (code, text) in [(b'S', "ERROR"), (b'C', "XX000"), (b'M', message)] {
        body.push(code);
        body.extend_from_slice(text.as_bytes());
        body.push(0);
    }
    body.push(0);
    msg(b'E', &body)
}

fn type_oid(name: &str) -> (i32, i16) {
    match name {
        "bool" => (16, 1),
        "int8" => (20, 8),
        "int4" => (23, 4),
        "float8" => (701, 8),
        _ => (25, -1),
    }
}

fn row_description(columns: &[(String, String)]) -> Vec<u8> {
    let mut body = (columns.len() as i16).to_be_bytes().to_vec();
    for (name, ty) in columns {
        let (oid, len) = type_oid(ty);
        body.extend_from_slice(name.as_bytes());
        body.push(0);
        body.extend_from_slice(&0i32.to_be_bytes());
        body.extend_from_slice(&0i16.to_be_bytes());
        body.extend_from_slice(&oid.to_be_bytes());
        body.extend_from_slice(&len.to_be_bytes());
        body.extend_from_slice(&(-1i32).to_be_bytes());
        body.extend_from_slice(&0i16.to_be_bytes());
    }
    msg(b'T', &body)
}

fn data_row(columns: &[(String, String)], row: &[serde_json::Value]) -> Vec<u8> {
    let mut body = (columns.len() as i16).to_be_bytes().to_vec();
    for (i, (_, ty)) in columns.iter().enumerate() {
        let cell = row.get(i).unwrap_or(&serde_json::Value::Null);
        let bytes: Option<Vec<u8>> = match (ty.as_str(), cell) {
            (_, serde_json::Value::Null) => None,
            ("bool", v) => Some(vec![u8::from(v.as_bool().unwrap_or(false))]),
            ("int4", v) => Some((v.as_i64().unwrap_or(0) as i32).to_be_bytes().to_vec()),
            ("int8", v) => Some(v.as_i64().unwrap_or(0).to_be_bytes().to_vec()),
            ("float8", v) => Some(float(v).to_bits().to_be_bytes().to_vec()),
            (_, serde_json::Value::String(s)) => Some(s.as_bytes().to_vec()),
            (_, v) => Some(v.to_string().into_bytes()),
        };
        match bytes {
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(b) => {
                body.extend_from_slice(&(b.len() as i32).to_be_bytes());
                body.extend_from_slice(&b);
            }
        }
    }
    msg(b'D', &body)
}

/// JSON has no NaN or infinities: the capture writes them as strings.
fn float(v: &serde_json::Value) -> f64 {
    match v {
        serde_json::Value::String(s) => match s.as_str() {
            "NaN" => f64::NAN,
            "+Inf" | "Infinity" => f64::INFINITY,
            "-Inf" | "-Infinity" => f64::NEG_INFINITY,
            other => other.parse().unwrap_or(0.0),
        },
        v => v.as_f64().unwrap_or(0.0),
    }
}

fn read_exact(stream: &mut TcpStream, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf)?;
    Ok(buf)
}

fn stream_zeros(stream: &mut TcpStream, streamed: &AtomicUsize, stop: &AtomicBool) {
    let chunk = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        match stream.write(&chunk) {
            Ok(n) => {
                streamed.fetch_add(n, Ordering::Relaxed);
            }
            Err(_) => return,
        }
    }
}

/// `write_all`, adding each part written to `streamed` as it goes.
fn write_counted(
    stream: &mut TcpStream,
    mut buf: &[u8],
    streamed: &AtomicUsize,
) -> std::io::Result<()> {
    while !buf.is_empty() {
        match stream.write(buf) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                streamed.fetch_add(n, Ordering::Relaxed);
                buf = &buf[n..];
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn serve(
    mut stream: TcpStream,
    behaviour: &Behaviour,
    stop: &AtomicBool,
    streamed: &AtomicUsize,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    // Startup, after an optional SSLRequest (answered "no").
    loop {
        let len = i32::from_be_bytes(read_exact(&mut stream, 4)?.try_into().unwrap_or([0; 4]));
        let body = read_exact(&mut stream, (len.max(4) - 4) as usize)?;
        let code = body
            .get(..4)
            .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        match code {
            Some(80_877_103) => stream.write_all(b"N")?,
            Some(80_877_102) => return Ok(()),
            _ => break,
        }
    }
    if matches!(behaviour, Behaviour::HugeStartup) {
        let mut header = vec![b'R'];
        header.extend_from_slice(&0x7fff_fff0i32.to_be_bytes());
        stream.write_all(&header)?;
        stream_zeros(&mut stream, streamed, stop);
        return Ok(());
    }
    let mut hello = msg(b'R', &0i32.to_be_bytes());
    for (k, v) in [
        ("server_version", "16.0"),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO, MDY"),
        ("integer_datetimes", "on"),
    ] {
        let mut body = k.as_bytes().to_vec();
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
        hello.extend(msg(b'S', &body));
    }
    let mut key = 4242i32.to_be_bytes().to_vec();
    key.extend_from_slice(&7i32.to_be_bytes());
    hello.extend(msg(b'K', &key));
    hello.extend(msg(b'Z', b"I"));
    stream.write_all(&hello)?;

    let statements: HashMap<&str, &Statement> = match behaviour {
        Behaviour::Replay(list) | Behaviour::EndlessRows(list) => {
            list.iter().map(|s| (s.sql.as_str(), s)).collect()
        }
        _ => HashMap::new(),
    };
    let mut prepared: HashMap<String, Option<&Statement>> = HashMap::new();
    let mut portals: HashMap<String, Option<&Statement>> = HashMap::new();
    let mut failed = false;
    loop {
        let head = read_exact(&mut stream, 5)?;
        let kind = head[0];
        let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]);
        let body = read_exact(&mut stream, (len.max(4) - 4) as usize)?;
        if failed && kind != b'S' {
            continue;
        }
        match behaviour {
            Behaviour::HugeMessage => {
                let mut header = vec![b'T'];
                header.extend_from_slice(&0x7fff_fff0i32.to_be_bytes());
                stream.write_all(&header)?;
                stream_zeros(&mut stream, streamed, stop);
                return Ok(());
            }
            Behaviour::EndlessRows(_) if kind == b'E' => {
                let mut at = 0;
                let portal = cstr(&body, &mut at);
                if portals.get(&portal).copied().flatten().is_none() {
                    let columns = vec![("x".to_owned(), "text".to_owned())];
                    let row = data_row(
                        &columns,
                        &[serde_json::Value::String("y".repeat(64 * 1024))],
                    );
                    while !stop.load(Ordering::Relaxed) {
                        if stream.write_all(&row).is_err() {
                            return Ok(());
                        }
                        streamed.fetch_add(row.len(), Ordering::Relaxed);
                    }
                    return Ok(());
                }
            }
            _ => {}
        }
        let mut at = 0;
        let out: Vec<u8> = match kind {
            b'P' => {
                let name = cstr(&body, &mut at);
                let sql = cstr(&body, &mut at);
                let found = statements.get(sql.as_str()).copied();
                if found.is_none() && !matches!(behaviour, Behaviour::EndlessRows(_)) {
                    failed = true;
                    error_response(&format!("statement not in the fixture: {sql}"))
                } else {
                    prepared.insert(name, found);
                    msg(b'1', &[])
                }
            }
            b'D' => {
                let what = body.first().copied().unwrap_or(b'S');
                at = 1;
                let name = cstr(&body, &mut at);
                let st = if what == b'S' {
                    prepared.get(&name).copied().flatten()
                } else {
                    portals.get(&name).copied().flatten()
                };
                let columns = match (st, behaviour) {
                    (Some(st), _) => st.columns.clone(),
                    (None, _) => vec![("x".to_owned(), "text".to_owned())],
                };
                let mut out = Vec::new();
                if what == b'S' {
                    out.extend(msg(b't', &0i16.to_be_bytes()));
                }
                out.extend(row_description(&columns));
                out
            }
            b'B' => {
                let portal = cstr(&body, &mut at);
                let name = cstr(&body, &mut at);
                portals.insert(portal, prepared.get(&name).copied().flatten());
                msg(b'2', &[])
            }
            b'E' => {
                let portal = cstr(&body, &mut at);
                let mut out = Vec::new();
                let st = portals.get(&portal).copied().flatten();
                let n = st.map_or(0, |s| s.rows.len());
                if let Some(st) = st {
                    for row in &st.rows {
                        out.extend(data_row(&st.columns, row));
                    }
                }
                out.extend(msg(b'C', format!("SELECT {n}\0").as_bytes()));
                out
            }
            b'C' => msg(b'3', &[]),
            b'S' => {
                failed = false;
                msg(b'Z', b"I")
            }
            b'H' => Vec::new(),
            b'Q' => {
                let sql = cstr(&body, &mut at);
                let mut out = if sql.trim().is_empty() {
                    msg(b'I', &[])
                } else {
                    error_response("simple queries are not replayed")
                };
                out.extend(msg(b'Z', b"I"));
                out
            }
            b'X' => return Ok(()),
            _ => error_response("unsupported message"),
        };
        if kind == b'E' {
            // The rows of a replay count too, so a test of too many (tiny) rows can say how much
            // the server got to send, as for the hostile streams; a client that hangs up
            // halfway has still been sent what went out before.
            write_counted(&mut stream, &out, streamed)?;
        } else if !out.is_empty() {
            stream.write_all(&out)?;
        }
    }
}
