//! Family names made at run time: the `cluster_*` pass-through and `--namespace`. Every other
//! name is a literal in the file that writes it.
//!
//! Each distinct name is made once per process and then borrowed, since the same strings are
//! needed on every scrape. Bounded, because `cluster_*` names come from the server: past the
//! bound the strings are built per use.

use std::sync::{Mutex, OnceLock};

use mcp_exporter_core::encoder::Text;
use rustc_hash::FxHashMap as HashMap;

const MAX: usize = 4096;

/// `(name, help)` for the full name `name`, with the HELP made by `help` the first time.
pub fn interned(name: &str, help: impl FnOnce() -> String) -> (Text, Text) {
    static CACHE: OnceLock<Mutex<HashMap<String, (&'static str, &'static str)>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::default()));
    let Ok(mut map) = cache.lock() else {
        return (Text::Owned(name.to_owned()), Text::Owned(help()));
    };
    if let Some((n, h)) = map.get(name) {
        return (Text::Borrowed(*n), Text::Borrowed(*h));
    }
    let help = help();
    if map.len() >= MAX {
        return (Text::Owned(name.to_owned()), Text::Owned(help));
    }
    // Leaked once per distinct name, bounded by MAX: later scrapes borrow.
    let n: &'static str = Box::leak(name.to_owned().into_boxed_str());
    let h: &'static str = Box::leak(help.into_boxed_str());
    map.insert(name.to_owned(), (n, h));
    (Text::Borrowed(n), Text::Borrowed(h))
}
