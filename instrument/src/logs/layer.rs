//! The `tracing` layer: formats each event to one JSON line on the caller's thread and hands it
//! to the bounded queue. That is all the caller pays for; protobuf, snappy and HTTP happen on
//! the shipper thread.

use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::queue::{Entry, LINE_CAPACITY, Shared};

thread_local! {
    /// Set on the shipper thread: its own events (and its HTTP client's) must not feed back
    /// into the queue they are draining.
    pub(crate) static IN_SHIPPER: Cell<bool> = const { Cell::new(false) };
}

/// A `tracing_subscriber` layer that ships events to Loki through a bounded queue.
///
/// Made by [`super::loki`]; [`crate::init`] installs one for you when a Loki URL is set.
#[derive(Clone, Debug)]
pub struct LokiLayer {
    pub(crate) shared: Arc<Shared>,
}

/// Span fields, already JSON-encoded, kept in the span's extensions.
struct SpanFields(Vec<(&'static str, String)>);

pub(crate) fn level_index(level: &Level) -> u8 {
    match *level {
        Level::TRACE => 0,
        Level::DEBUG => 1,
        Level::INFO => 2,
        Level::WARN => 3,
        Level::ERROR => 4,
    }
}

pub(crate) const LEVEL_NAMES: [&str; 5] = ["trace", "debug", "info", "warn", "error"];

impl<S> tracing_subscriber::Layer<S> for LokiLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = SpanFieldVisitor(Vec::new());
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields.0));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut update = SpanFieldVisitor(Vec::new());
        values.record(&mut update);
        let mut ext = span.extensions_mut();
        if let Some(SpanFields(fields)) = ext.get_mut::<SpanFields>() {
            for (k, v) in update.0 {
                match fields.iter_mut().find(|(name, _)| *name == k) {
                    Some(slot) => slot.1 = v,
                    None => fields.push((k, v)),
                }
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if IN_SHIPPER.with(Cell::get) {
            return;
        }
        let shared = &*self.shared;
        if let Some(reason) = shared.precheck() {
            shared.count_drop(reason, 1);
            return;
        }
        let meta = event.metadata();
        let level = level_index(meta.level());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();

        let mut line = String::with_capacity(LINE_CAPACITY);
        line.push_str("{\"level\":\"");
        line.push_str(LEVEL_NAMES[level as usize]);
        line.push('"');
        let mut seen = Seen::default();
        seen.insert("level");
        {
            let mut v = EventVisitor {
                out: &mut line,
                seen: &mut seen,
            };
            event.record(&mut v);
        }
        // Span fields, innermost first; an event field or an inner span's field of the same
        // name wins, so a key appears once (tracing-loki writes duplicates).
        let mut leaf: Option<&'static str> = None;
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                if leaf.is_none() {
                    leaf = Some(span.name());
                }
                let ext = span.extensions();
                if let Some(SpanFields(fields)) = ext.get::<SpanFields>() {
                    for (k, v) in fields {
                        if seen.insert(k) {
                            line.push_str(",\"");
                            line.push_str(k);
                            line.push_str("\":");
                            line.push_str(v);
                        }
                    }
                }
            }
        }
        if let Some(name) = leaf
            && seen.insert("span")
        {
            line.push_str(",\"span\":");
            push_json_str(&mut line, name);
        }
        if seen.insert("target") {
            line.push_str(",\"target\":");
            push_json_str(&mut line, meta.target());
        }
        line.push('}');
        if line.len() > shared.max_line_bytes {
            line = truncated(&line, level, shared.max_line_bytes);
        }

        shared.push(Entry {
            secs: now.as_secs() as i64,
            nanos: now.subsec_nanos() as i32,
            level,
            line,
        });
    }
}

/// Replaces an over-long line by a small valid JSON object that says so.
fn truncated(line: &str, level: u8, max: usize) -> String {
    let keep = max.saturating_sub(256).min(4096);
    let mut cut = keep.min(line.len());
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = String::with_capacity(cut + 128);
    out.push_str("{\"level\":\"");
    out.push_str(LEVEL_NAMES[level as usize]);
    out.push_str("\",\"truncated\":true,\"original_bytes\":");
    push_u64(&mut out, line.len() as u64);
    out.push_str(",\"msg\":");
    push_json_str(&mut out, &line[..cut]);
    out.push('}');
    out
}

/// Field names already written to the line. A small fixed array: events have few fields, and
/// past 16 we stop de-duplicating rather than allocate.
#[derive(Default)]
struct Seen {
    names: [&'static str; 16],
    len: usize,
}

impl Seen {
    /// Records `name` without checking: the fields of one event are distinct by
    /// construction (one callsite's field set), so only span fields need the check.
    fn push(&mut self, name: &'static str) {
        if self.len < self.names.len() {
            self.names[self.len] = name;
            self.len += 1;
        }
    }

    /// True when `name` was not seen before (and is now).
    fn insert(&mut self, name: &'static str) -> bool {
        if self.names[..self.len].contains(&name) {
            return false;
        }
        if self.len < self.names.len() {
            self.names[self.len] = name;
            self.len += 1;
        }
        true
    }
}

fn key_of(field: &Field) -> &'static str {
    match field.name() {
        "message" => "msg",
        name => name,
    }
}

struct EventVisitor<'a> {
    out: &'a mut String,
    seen: &'a mut Seen,
}

impl EventVisitor<'_> {
    fn key(&mut self, field: &Field) -> bool {
        let key = key_of(field);
        // `level` is already written; everything else on an event is unique.
        if key == "level" {
            return false;
        }
        self.seen.push(key);
        self.out.push_str(",\"");
        self.out.push_str(key);
        self.out.push_str("\":");
        true
    }
}

impl Visit for EventVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.key(field) {
            self.out.push('"');
            let _ = write!(JsonEscape(self.out), "{value:?}");
            self.out.push('"');
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.key(field) {
            push_json_str(self.out, value);
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.key(field) {
            if value < 0 {
                self.out.push('-');
            }
            push_u64(self.out, value.unsigned_abs());
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.key(field) {
            push_u64(self.out, value);
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.key(field) {
            push_f64(self.out, value);
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.key(field) {
            self.out.push_str(if value { "true" } else { "false" });
        }
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.key(field) {
            self.out.push('"');
            let _ = write!(JsonEscape(self.out), "{value}");
            self.out.push('"');
        }
    }
}

struct SpanFieldVisitor(Vec<(&'static str, String)>);

impl SpanFieldVisitor {
    fn put(&mut self, field: &Field, value: String) {
        self.0.push((key_of(field), value));
    }
}

impl Visit for SpanFieldVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut s = String::from("\"");
        let _ = write!(JsonEscape(&mut s), "{value:?}");
        s.push('"');
        self.put(field, s);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let mut s = String::with_capacity(value.len() + 2);
        push_json_str(&mut s, value);
        self.put(field, s);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.to_string());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.to_string());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        let mut s = String::new();
        push_f64(&mut s, value);
        self.put(field, s);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.to_string());
    }
}

/// Decimal digits without the `fmt` machinery: integers are the commonest field values.
fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

fn push_f64(out: &mut String, value: f64) {
    if value.is_finite() {
        let _ = write!(out, "{value}");
    } else {
        // JSON has no NaN/Infinity; a string keeps the information.
        let _ = write!(out, "\"{value}\"");
    }
}

/// `fmt::Write` adapter that JSON-escapes what is written through it (no quotes added).
struct JsonEscape<'a>(&'a mut String);

impl fmt::Write for JsonEscape<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_into(self.0, s);
        Ok(())
    }
}

/// Appends `s` as a quoted JSON string.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    escape_into(out, s);
    out.push('"');
}

/// Bytes that JSON strings cannot hold as they are: control characters, `"` and `\\`.
static NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

fn escape_into(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !NEEDS_ESCAPE[b as usize] {
            i += 1;
            continue;
        }
        // `i` is at an ASCII byte, so both slices end on char boundaries.
        out.push_str(&s[start..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => {
                let _ = write!(out, "\\u{:04x}", b);
            }
        }
        i += 1;
        start = i;
    }
    out.push_str(&s[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_json_specials() {
        let mut s = String::new();
        push_json_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001é\"");
    }

    #[test]
    fn an_over_long_line_becomes_a_valid_truncation_notice() {
        let long = format!("{{\"msg\":\"{}é\"}}", "x".repeat(10_000));
        let t = truncated(&long, 3, 1024);
        assert!(t.len() < 2048, "{}", t.len());
        assert!(t.starts_with(
            "{\"level\":\"warn\",\"truncated\":true,\"original_bytes\":10012,\"msg\":\"{\\\"msg"
        ));
        assert!(t.ends_with("\"}"));
    }

    #[test]
    fn formats_integers() {
        let mut s = String::new();
        for v in [0, 7, 10, 12345, u64::MAX] {
            s.clear();
            push_u64(&mut s, v);
            assert_eq!(s, v.to_string());
        }
    }
}
