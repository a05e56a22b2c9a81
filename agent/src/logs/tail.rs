//! Tailing one log target (a container's json-file log, or one plain file) across rotation.
//!
//! A target is a path, and behind it a chain of open files, oldest first: when the path's
//! device+inode changes (rename-and-create rotation), the new file is opened and appended to the
//! chain, and the old one is read to its end before the new one is read: an open descriptor
//! keeps a renamed or deleted file readable, so rotation loses nothing while the agent runs, even
//! when Loki is down for several rotations (up to [`MAX_CHAIN`] files; beyond it the oldest
//! unread file is given up and counted). Offsets advance only over whole lines (and whole
//! partial-record chains for Docker), and a line is acknowledged only once Loki accepted it, so
//! what is persisted is always a line boundary that Loki has.

use std::collections::VecDeque;
use std::fs::File;
#[cfg(unix)]
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::docker;

/// Most files held open behind one path while the oldest is still being read.
pub const MAX_CHAIN: usize = 8;

/// The bytes of a file's start that tell a reused inode from the same file.
const FINGERPRINT_BYTES: usize = 64;

/// Device and inode: a file's identity across renames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ident {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

impl Ident {
    #[cfg(unix)]
    fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    // Elsewhere the agent refuses a `logs` section (config check), so no tailer runs; this only
    // keeps the crate building for the operator commands on Windows.
    #[cfg(not(unix))]
    fn of(_: &std::fs::Metadata) -> Self {
        Self { dev: 0, ino: 0 }
    }
}

/// A read at `offset` that leaves no cursor behind (`pread`).
#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    file.read_at(buf, offset)
}

#[cfg(not(unix))]
fn read_at(_: &File, _: &mut [u8], _: u64) -> std::io::Result<usize> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

/// How a target's lines are framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One line per `\n`.
    Plain,
    /// Docker json-file records, partial records joined.
    DockerJson,
}

struct OpenFile {
    /// Unique within the process, so an acknowledgement names the file it is for.
    id: u64,
    file: File,
    ident: Ident,
    fingerprint: Vec<u8>,
    read_offset: u64,
    acked_offset: u64,
    /// Its length when last seen: by `fstat` (opening it, and [`Tailer::check`] for the newest
    /// file) or by a read (at least what was read, exactly that at its end).
    len: u64,
    /// Read to its end and a newer file follows it: nothing more will come.
    finished: bool,
}

/// One line handed to the shipper.
#[derive(Clone, Debug)]
pub struct Line {
    /// The open file it came from.
    pub file_id: u64,
    /// The offset just past it: acknowledging the line acknowledges everything before it.
    pub end_offset: u64,
    /// Seconds, nanos since the epoch.
    pub ts: (i64, i32),
    /// `stdout`/`stderr` for Docker; empty for plain files (and a Docker stream of another
    /// name). Static, so that no line allocates its stream's name.
    pub stream: &'static str,
    /// The text, without its line end, cut at the line limit.
    pub text: String,
}

/// What a read found besides lines, for the counters.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadStats {
    /// Bytes consumed.
    pub bytes: u64,
    /// Lines cut at the line limit.
    pub truncated: u64,
    /// Docker records that were not JSON (skipped).
    pub bad_records: u64,
}

/// The persisted state of a target (see [`super::positions`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    /// The path.
    pub path: PathBuf,
    /// The file the offset is in.
    pub ident: Ident,
    /// Acknowledged offset in it.
    pub offset: u64,
    /// Its first bytes, hex (inode reuse is told apart by them).
    pub fingerprint: String,
}

/// Events of the chain, for the counters and logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ChainEvents {
    /// A rotation was seen (a new file behind the path).
    pub rotated: u64,
    /// A file shrank under its offset (copytruncate or truncation): reading restarts at 0.
    pub truncated: u64,
    /// Files given up unread (the chain was full, or rotated away while the agent was down).
    pub lost_files: u64,
}

/// A tailed target.
pub struct Tailer {
    path: PathBuf,
    format: Format,
    chain: VecDeque<OpenFile>,
    next_id: u64,
    /// The path no longer exists (container removed, file deleted).
    pub path_gone: bool,
    /// Bytes of partial Docker records held back to join (for the memory bound).
    pending_partial: usize,
    /// When the last line was read (for the lag in seconds).
    pub last_read: Option<SystemTime>,
    /// The newest file's `len` was taken by [`Self::check`] this poll: the read and the lag
    /// that follow use it instead of `fstat`ing the file again. Cleared by [`Self::lag_bytes`],
    /// which ends a poll.
    len_fresh: bool,
}

impl std::fmt::Debug for Tailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tailer").field("path", &self.path).finish()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn read_fingerprint(file: &File) -> Vec<u8> {
    let mut buf = [0u8; FINGERPRINT_BYTES];
    let n = read_at(file, &mut buf, 0).unwrap_or(0);
    buf[..n].to_vec()
}

impl Tailer {
    /// A target for `path`, resuming from `saved` when it names a file that is still there:
    /// the path's own file, or (rotated while the agent was down) a file of the same directory
    /// with the saved device+inode, which is then read to its end first.
    pub fn open(
        path: &Path,
        format: Format,
        saved: Option<&Position>,
        events: &mut ChainEvents,
    ) -> Self {
        let mut t = Self {
            path: path.to_owned(),
            format,
            chain: VecDeque::new(),
            next_id: 1,
            path_gone: false,
            pending_partial: 0,
            last_read: None,
            len_fresh: false,
        };
        let current = std::fs::metadata(path).ok();
        if let Some(pos) = saved {
            let here = current.as_ref().map(Ident::of);
            if here == Some(pos.ident) {
                t.push_file(path, pos.offset, Some(&pos.fingerprint));
            } else if let Some(old) = find_by_ident(path, pos.ident) {
                t.push_file(&old, pos.offset, Some(&pos.fingerprint));
                t.push_file(path, 0, None);
            } else {
                // The saved file is gone: whatever of it was not acknowledged cannot be read.
                events.lost_files += 1;
                t.push_file(path, 0, None);
            }
        } else {
            t.push_file(path, 0, None);
        }
        if t.chain.is_empty() {
            t.path_gone = current.is_none();
        }
        t
    }

    fn push_file(&mut self, path: &Path, offset: u64, fingerprint: Option<&str>) {
        let Ok(file) = File::open(path) else { return };
        let Ok(meta) = file.metadata() else { return };
        let fp = read_fingerprint(&file);
        // An inode reused by another file, or a file now shorter than the offset: from the start.
        let same = fingerprint.is_none_or(|f| {
            let f = f.to_owned();
            let have = hex(&fp);
            have.starts_with(&f) || f.starts_with(&have)
        });
        let offset = if same && offset <= meta.len() {
            offset
        } else {
            0
        };
        let id = self.next_id;
        self.next_id += 1;
        self.chain.push_back(OpenFile {
            id,
            file,
            ident: Ident::of(&meta),
            fingerprint: fp,
            read_offset: offset,
            acked_offset: offset,
            len: meta.len(),
            finished: false,
        });
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Looks at the path again: a new file behind it (rotation) joins the chain; a file shorter
    /// than what was read (truncation, copytruncate) is read again from 0; a missing path marks
    /// the target as going (its open files are still read to their end).
    pub fn check(&mut self, events: &mut ChainEvents) {
        // The newest open file, through its descriptor (its path may already be gone): shorter
        // than what was read, or its first bytes changed (truncated, then rewritten past the old
        // offset before this look): read it again from 0, under a new id so that acks of lines
        // read before the truncation cannot move the new offsets.
        if let Some(last) = self.chain.back_mut() {
            let len = last.file.metadata().map(|m| m.len()).unwrap_or(0);
            last.len = len;
            let now = read_fingerprint(&last.file);
            let common = now.len().min(last.fingerprint.len());
            let rewritten = now[..common] != last.fingerprint[..common];
            if len < last.read_offset || rewritten {
                events.truncated += 1;
                last.read_offset = 0;
                last.acked_offset = 0;
                last.finished = false;
                last.id = self.next_id;
                self.next_id += 1;
                last.fingerprint = now;
            } else if now.len() > last.fingerprint.len() {
                last.fingerprint = now;
            }
        }
        match std::fs::metadata(&self.path) {
            Err(_) => self.path_gone = true,
            Ok(meta) => {
                self.path_gone = false;
                let ident = Ident::of(&meta);
                if self.chain.back().is_none_or(|last| last.ident != ident) {
                    if !self.chain.is_empty() {
                        events.rotated += 1;
                    }
                    if self.chain.len() >= MAX_CHAIN {
                        // Held open too long: give up the oldest (counted as loss).
                        self.chain.pop_front();
                        events.lost_files += 1;
                    }
                    let path = self.path.clone();
                    self.push_file(&path, 0, None);
                }
            }
        }
        // The newest file was fstat'ed above, or has just been opened (push_file fstat'ed it).
        self.len_fresh = !self.chain.is_empty();
    }

    /// Bytes behind the acknowledged offsets (read or not), over the chain. Right after
    /// [`Self::check`] and [`Self::read`] (the same poll) the newest file's length is the one
    /// they saw; otherwise (a lag published while a push is retried) every file is `fstat`ed.
    /// Ends the poll: the next read sizes itself without the checked length.
    pub fn lag_bytes(&mut self) -> u64 {
        let fresh = std::mem::take(&mut self.len_fresh);
        let last = self.chain.len().saturating_sub(1);
        self.chain
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let len = if fresh && i == last {
                    f.len
                } else {
                    f.file.metadata().map(|m| m.len()).unwrap_or(f.read_offset)
                };
                len.saturating_sub(f.acked_offset)
            })
            .sum()
    }

    /// Whether everything read was acknowledged, the path is gone and the files are at their
    /// end: the target can be dropped.
    pub fn done(&self) -> bool {
        self.path_gone
            && self.chain.iter().all(|f| {
                f.read_offset == f.acked_offset
                    && f.file
                        .metadata()
                        .map(|m| m.len() <= f.read_offset)
                        .unwrap_or(true)
            })
    }

    /// Reads whole lines, at most about `budget` bytes, into `out`. `max_line` cuts longer
    /// lines. `final_flush` (target going away, or shutdown) also hands out a Docker line whose
    /// last partial record never came. `buf` is the read buffer, one for every target of the
    /// collector: grown as a read needs (never past the read chunk bound), never shrunk, so a
    /// poll allocates and zeroes nothing.
    pub fn read(
        &mut self,
        budget: usize,
        max_line: usize,
        buf: &mut Vec<u8>,
        out: &mut Vec<Line>,
    ) -> ReadStats {
        let mut stats = ReadStats::default();
        let mut left = budget;
        let chain_len = self.chain.len();
        for i in 0..chain_len {
            if left == 0 {
                break;
            }
            let is_last = i + 1 == chain_len;
            let format = self.format;
            let f = &mut self.chain[i];
            if f.finished {
                continue;
            }
            let before = out.len();
            let (consumed, at_end) = read_file(
                f,
                format,
                ReadLimits {
                    budget: left,
                    max_line,
                    len_known: is_last && self.len_fresh,
                },
                buf,
                out,
                &mut stats,
                self.path_gone || !is_last,
            );
            stats.bytes += consumed;
            left = left.saturating_sub(consumed as usize);
            if out.len() > before {
                self.last_read = Some(SystemTime::now());
            }
            if at_end && !is_last {
                f.finished = true;
            } else if !at_end {
                break; // Older data first: the next file waits until this one is read.
            }
        }
        self.pending_partial = 0;
        stats
    }

    /// Loki acknowledged everything up to `end_offset` of file `file_id`.
    pub fn ack(&mut self, file_id: u64, end_offset: u64) {
        if let Some(f) = self.chain.iter_mut().find(|f| f.id == file_id) {
            f.acked_offset = f.acked_offset.max(end_offset);
        }
        // Drop old files that are read, acknowledged and followed by a newer one.
        while self.chain.len() > 1
            && self
                .chain
                .front()
                .is_some_and(|f| f.finished && f.acked_offset == f.read_offset)
        {
            self.chain.pop_front();
        }
    }

    /// A batch that will not be delivered (shutdown): reading restarts at the acknowledged
    /// offsets, so the lines are sent again next time.
    pub fn rewind(&mut self) {
        for f in &mut self.chain {
            f.read_offset = f.acked_offset;
            f.finished = false;
        }
    }

    /// What to persist: the oldest file's acknowledged offset (the restart point).
    pub fn position(&self) -> Option<Position> {
        let f = self.chain.front()?;
        Some(Position {
            path: self.path.clone(),
            ident: f.ident,
            offset: f.acked_offset,
            fingerprint: hex(&f.fingerprint),
        })
    }
}

/// How much one [`read_file`] may read.
struct ReadLimits {
    /// Bytes of lines wanted (the batch's room).
    budget: usize,
    /// Longest line kept whole.
    max_line: usize,
    /// The file's `len` was fstat'ed this poll (by [`Tailer::check`]).
    len_known: bool,
}

/// The least a read whose size comes from a checked length asks for: should the length be older
/// than thought, lines still come (the buffer is reused, so asking for more costs nothing).
const MIN_CHUNK: usize = 64 << 10;

/// Reads from `f` at its read offset into `buf`. Returns (bytes consumed, reached the end of the
/// file).
fn read_file(
    f: &mut OpenFile,
    format: Format,
    limits: ReadLimits,
    buf: &mut Vec<u8>,
    out: &mut Vec<Line>,
    stats: &mut ReadStats,
    final_flush: bool,
) -> (u64, bool) {
    let ReadLimits {
        budget,
        max_line,
        len_known,
    } = limits;
    // Room for one whole cut line plus its JSON framing, whatever the budget.
    let full = budget.max(max_line.saturating_mul(2) + 4096).min(16 << 20);
    // But, when the length is known, no more than the file holds past the offset (plus one
    // byte, so that reading all of it still reads less than the buffer): a target polled every
    // 250 ms has kilobytes to read, and the shared buffer need not grow to the full chunk for
    // them.
    let chunk = if len_known {
        let avail = usize::try_from(f.len.saturating_sub(f.read_offset)).unwrap_or(usize::MAX);
        full.min(avail.saturating_add(1).max(MIN_CHUNK))
    } else {
        full
    };
    if buf.len() < chunk {
        // Replaced, not resized: the old contents need no copy, and go before the new buffer
        // is allocated.
        *buf = Vec::new();
        *buf = vec![0u8; chunk];
    }
    let n = match read_at(&f.file, &mut buf[..chunk], f.read_offset) {
        Ok(n) => n,
        Err(_) => return (0, true),
    };
    let buf = &buf[..n];
    if n == 0 {
        return (0, true);
    }
    let start = f.read_offset;
    // The file holds at least what was read; a read short of the chunk reached its end.
    f.len = if n < chunk {
        start + n as u64
    } else {
        f.len.max(start + n as u64)
    };
    let id = f.id;
    let mk = |end_offset: u64, ts: (i64, i32), stream: &'static str, text: String| Line {
        file_id: id,
        end_offset,
        ts,
        stream,
        text,
    };
    let mut pos = 0usize; // consumed within buf
    let now = now_ts();
    // A Docker line being joined from partial records: (text, stream, ts, cut).
    let mut joining: Option<(String, &'static str, (i64, i32), bool)> = None;
    let mut scan = 0usize;
    let mut stopped_early = false;
    while let Some(nl) = buf[scan..].iter().position(|&b| b == b'\n') {
        let line = &buf[scan..scan + nl];
        let next = scan + nl + 1;
        match format {
            Format::Plain => {
                let (text, cut) = cut_line(line, max_line);
                stats.truncated += u64::from(cut);
                out.push(mk(start + next as u64, now, "", text));
                pos = next;
            }
            Format::DockerJson => match docker::parse_record(line) {
                None => {
                    stats.bad_records += 1;
                    if joining.is_none() {
                        pos = next;
                    }
                }
                Some(rec) => {
                    let ts = docker::parse_rfc3339(&rec.time).unwrap_or(now);
                    let stream = stream_name(&rec.stream);
                    let ended = rec.log.ends_with('\n');
                    let piece = rec.log.strip_suffix('\n').unwrap_or(&rec.log);
                    let piece = piece.strip_suffix('\r').unwrap_or(piece);
                    if ended && joining.is_none() && piece.len() <= max_line {
                        // A whole line in one record (the common case): its text as it is.
                        let len = piece.len();
                        let mut text = rec.log.into_owned();
                        text.truncate(len);
                        out.push(mk(start + next as u64, ts, stream, text));
                        pos = next;
                    } else {
                        let j = joining.get_or_insert_with(|| (String::new(), stream, ts, false));
                        if j.0.len() + piece.len() > max_line {
                            let room = max_line.saturating_sub(j.0.len());
                            j.0.push_str(floor_str(piece, room));
                            j.3 = true;
                        } else {
                            j.0.push_str(piece);
                        }
                        if ended {
                            if let Some((text, stream, ts, cut)) = joining.take() {
                                stats.truncated += u64::from(cut);
                                out.push(mk(start + next as u64, ts, stream, text));
                            }
                            pos = next;
                        }
                    }
                }
            },
        }
        scan = next;
        if pos >= budget && joining.is_none() {
            // The batch is full: the rest is read next time.
            stopped_early = true;
            break;
        }
    }
    let rest = n - scan; // bytes after the last line end
    let at_end = n < chunk && rest == 0 && joining.is_none() && !stopped_early;
    if stopped_early {
        // Nothing more this round.
    } else if format == Format::Plain && rest > max_line {
        // A line longer than the limit with no end yet: ship its first part, skip on.
        let (text, _) = cut_line(&buf[scan..], max_line);
        stats.truncated += 1;
        out.push(mk(start + n as u64, now, "", text));
        pos = n;
    } else if final_flush && n < chunk {
        // The file will not grow: hand out an unterminated last line / partial chain as it is.
        if let Some((text, stream, ts, cut)) = joining.take() {
            stats.truncated += u64::from(cut);
            out.push(mk(start + scan as u64, ts, stream, text));
            pos = scan;
        }
        if format == Format::Plain && rest > 0 {
            let (text, cut) = cut_line(&buf[scan..], max_line);
            stats.truncated += u64::from(cut);
            out.push(mk(start + n as u64, now, "", text));
            pos = n;
        }
    } else if joining.is_some() && pos == 0 && n == full {
        // One joined line larger than the whole chunk: ship what we have (cut) and move on.
        if let Some((text, stream, ts, _)) = joining.take() {
            stats.truncated += 1;
            out.push(mk(start + scan as u64, ts, stream, text));
            pos = scan;
        }
    }
    f.read_offset = start + pos as u64;
    let at_end = at_end || (final_flush && n < chunk && f.read_offset == start + n as u64);
    (pos as u64, at_end)
}

/// A Docker record's stream as a static name: the two dockerd writes, and "" (no `stream`
/// label) for anything else.
fn stream_name(s: &str) -> &'static str {
    match s {
        "stdout" => "stdout",
        "stderr" => "stderr",
        _ => "",
    }
}

fn cut_line(line: &[u8], max: usize) -> (String, bool) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() <= max {
        (String::from_utf8_lossy(line).into_owned(), false)
    } else {
        (String::from_utf8_lossy(&line[..max]).into_owned(), true)
    }
}

fn floor_str(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn now_ts() -> (i64, i32) {
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as i64, d.subsec_nanos() as i32)
}

/// A file in `path`'s directory with this device+inode (a rotated-away file, renamed in place).
fn find_by_ident(path: &Path, ident: Ident) -> Option<PathBuf> {
    let dir = path.parent()?;
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let meta = e.metadata().ok()?;
        (meta.is_file() && Ident::of(&meta) == ident).then(|| e.path())
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn read_all(t: &mut Tailer) -> Vec<Line> {
        let mut out = Vec::new();
        t.read(1 << 20, 1024, &mut Vec::new(), &mut out);
        for l in &out {
            t.ack(l.file_id, l.end_offset);
        }
        out
    }

    fn texts(lines: &[Line]) -> Vec<&str> {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn plain_lines_are_read_whole_and_a_partial_line_waits() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, "one\ntwo\nthr").unwrap();
        let mut ev = ChainEvents::default();
        let mut t = Tailer::open(&p, Format::Plain, None, &mut ev);
        assert_eq!(texts(&read_all(&mut t)), ["one", "two"]);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"ee\n")
            .unwrap();
        assert_eq!(texts(&read_all(&mut t)), ["three"]);
        assert_eq!(t.position().unwrap().offset, 14);
    }

    #[test]
    fn rename_rotation_finishes_the_old_file_first() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, "1\n").unwrap();
        let mut ev = ChainEvents::default();
        let mut t = Tailer::open(&p, Format::Plain, None, &mut ev);
        assert_eq!(texts(&read_all(&mut t)), ["1"]);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"2\n")
            .unwrap();
        std::fs::rename(&p, dir.path().join("a.log.1")).unwrap();
        std::fs::write(&p, "3\n").unwrap();
        t.check(&mut ev);
        assert_eq!(ev.rotated, 1);
        assert_eq!(texts(&read_all(&mut t)), ["2", "3"]);
    }

    #[test]
    fn truncation_restarts_at_zero_and_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, "aaaa\nbbbb\n").unwrap();
        let mut ev = ChainEvents::default();
        let mut t = Tailer::open(&p, Format::Plain, None, &mut ev);
        read_all(&mut t);
        std::fs::write(&p, "c\n").unwrap();
        t.check(&mut ev);
        assert_eq!(ev.truncated, 1);
        assert_eq!(texts(&read_all(&mut t)), ["c"]);
    }

    #[test]
    fn docker_partial_records_are_joined_and_keep_their_time() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        std::fs::write(
            &p,
            concat!(
                r#"{"log":"par","stream":"stdout","time":"2024-05-01T10:00:00.000000001Z"}"#,
                "\n",
                r#"{"log":"tial\n","stream":"stdout","time":"2024-05-01T10:00:00.000000002Z"}"#,
                "\n",
                r#"{"log":"err\n","stream":"stderr","time":"2024-05-01T10:00:01Z"}"#,
                "\n",
                r#"{"log":"wait","stream":"stdout","time":"2024-05-01T10:00:02Z"}"#,
                "\n",
            ),
        )
        .unwrap();
        let mut ev = ChainEvents::default();
        let mut t = Tailer::open(&p, Format::DockerJson, None, &mut ev);
        let lines = read_all(&mut t);
        assert_eq!(texts(&lines), ["partial", "err"]);
        assert_eq!(lines[0].ts, (1_714_557_600, 1));
        assert_eq!(lines[1].stream, "stderr");
        // The unfinished chain is not consumed: it is read again once it ends.
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(
            concat!(
                r#"{"log":"ing\n","stream":"stdout","time":"2024-05-01T10:00:03Z"}"#,
                "\n"
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(texts(&read_all(&mut t)), ["waiting"]);
    }

    #[test]
    fn a_restart_resumes_at_the_saved_offset_even_after_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, "1\n2\n").unwrap();
        let mut ev = ChainEvents::default();
        let mut t = Tailer::open(&p, Format::Plain, None, &mut ev);
        let mut out = Vec::new();
        t.read(1 << 20, 1024, &mut Vec::new(), &mut out);
        t.ack(out[0].file_id, out[0].end_offset); // only "1" acknowledged
        let saved = t.position().unwrap();
        drop(t);
        std::fs::rename(&p, dir.path().join("a.log.1")).unwrap();
        std::fs::write(&p, "3\n").unwrap();
        let mut t = Tailer::open(&p, Format::Plain, Some(&saved), &mut ev);
        assert_eq!(ev.lost_files, 0);
        assert_eq!(texts(&read_all(&mut t)), ["2", "3"]);
    }

    #[test]
    fn long_lines_are_cut_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, format!("{}\nshort\n", "x".repeat(5000))).unwrap();
        let mut ev = ChainEvents::default();
        let mut t = Tailer::open(&p, Format::Plain, None, &mut ev);
        let mut out = Vec::new();
        let stats = t.read(1 << 20, 1024, &mut Vec::new(), &mut out);
        assert_eq!(out[0].text.len(), 1024);
        assert_eq!(out[1].text, "short");
        assert_eq!(stats.truncated, 1);
    }

    fn append(p: &Path, text: &str) {
        std::fs::OpenOptions::new()
            .append(true)
            .open(p)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    #[test]
    fn a_poll_sizes_its_read_from_the_checked_length_and_reuses_one_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, "one\ntwo\n").unwrap();
        let mut ev = ChainEvents::default();
        let mut t = Tailer::open(&p, Format::Plain, None, &mut ev);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        t.check(&mut ev);
        t.read(1 << 20, 1024, &mut buf, &mut out);
        assert_eq!(texts(&out), ["one", "two"]);
        // A few bytes to read: the buffer is the floor, not the full chunk (over 1 MiB here).
        assert_eq!(buf.len(), MIN_CHUNK);
        // The lag of the same poll is the checked length less what Loki has (nothing yet).
        assert_eq!(t.lag_bytes(), 8);
        // Lines written after the poll: the lag, outside a poll, looks at the file again.
        append(&p, "three\n");
        assert_eq!(t.lag_bytes(), 14);
        for l in &out {
            t.ack(l.file_id, l.end_offset);
        }
        let at = buf.as_ptr();
        out.clear();
        t.check(&mut ev);
        // Lines written between the check and the read are read too.
        append(&p, "four\n");
        t.read(1 << 20, 1024, &mut buf, &mut out);
        assert_eq!(texts(&out), ["three", "four"]);
        assert_eq!(
            buf.as_ptr(),
            at,
            "the buffer is reused, not allocated again"
        );
        assert_eq!(t.lag_bytes(), 11);
    }

    #[test]
    fn a_docker_stream_other_than_stdout_or_stderr_has_no_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        std::fs::write(
            &p,
            concat!(
                r#"{"log":"a\n","stream":"stdout","time":"2024-05-01T10:00:00Z"}"#,
                "\n",
                r#"{"log":"b\n","stream":"other","time":"2024-05-01T10:00:00Z"}"#,
                "\n",
            ),
        )
        .unwrap();
        let mut ev = ChainEvents::default();
        let mut t = Tailer::open(&p, Format::DockerJson, None, &mut ev);
        let lines = read_all(&mut t);
        assert_eq!(texts(&lines), ["a", "b"]);
        assert_eq!((lines[0].stream, lines[1].stream), ("stdout", ""));
    }
}
