//! Family names and HELP texts made from file contents (meminfo keys, netstat and vmstat
//! fields), built once per [`Host`](crate::Host) instead of formatted on every scrape (`format!`
//! was 5 % of a scrape's CPU in a perf profile), with the field filters' verdicts cached beside
//! them (regex matching was another 2.5 %).

use std::sync::Mutex;

use mcp_exporter_core::encoder::Text;
use rustc_hash::FxHashMap;

/// At most this many names are kept per host; past it names are built on each use (the kernel
/// would have to invent thousands of fields for that).
const MAX: usize = 8192;

type Entry = Option<(&'static str, &'static str)>;

#[derive(Debug, Default)]
struct Inner {
    kinds: FxHashMap<&'static str, FxHashMap<String, Entry>>,
    count: usize,
}

/// The cache of one host's dynamic family names.
#[derive(Debug, Default)]
pub struct Names {
    inner: Mutex<Inner>,
}

impl Names {
    /// `(name, help)` for field `key` of a collector (`kind`), made by `make` the first time;
    /// `None` when `make` says the field is filtered out.
    pub fn get(
        &self,
        kind: &'static str,
        key: &str,
        make: impl FnOnce(&str) -> Option<(String, String)>,
    ) -> Option<(Text, Text)> {
        let borrowed = |e: Entry| e.map(|(n, h)| (Text::Borrowed(n), Text::Borrowed(h)));
        let Ok(mut inner) = self.inner.lock() else {
            return make(key).map(|(n, h)| (Text::Owned(n), Text::Owned(h)));
        };
        if let Some(e) = inner.kinds.get(kind).and_then(|m| m.get(key)) {
            return borrowed(*e);
        }
        let made = make(key);
        if inner.count >= MAX {
            return made.map(|(n, h)| (Text::Owned(n), Text::Owned(h)));
        }
        // Leaked once per distinct field and host: bounded by MAX, and it makes every later
        // scrape's names plain borrows.
        let e: Entry = made.map(|(n, h)| {
            (
                &*Box::leak(n.into_boxed_str()),
                &*Box::leak(h.into_boxed_str()),
            )
        });
        inner.count += 1;
        inner
            .kinds
            .entry(kind)
            .or_default()
            .insert(key.to_owned(), e);
        borrowed(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_once_and_filters_remembered() {
        let names = Names::default();
        let mut made = 0;
        for _ in 0..3 {
            let got = names.get("vmstat", "pgfault", |k| {
                made += 1;
                Some((format!("node_vmstat_{k}"), format!("help {k}")))
            });
            assert_eq!(got.unwrap().0, "node_vmstat_pgfault");
        }
        assert_eq!(made, 1);
        assert!(names.get("vmstat", "nr_free_pages", |_| None).is_none());
        assert!(
            names
                .get("vmstat", "nr_free_pages", |_| panic!("asked twice"))
                .is_none()
        );
        // Same field, other collector: its own entry.
        assert!(names.get("meminfo", "pgfault", |_| None).is_none());
    }
}
