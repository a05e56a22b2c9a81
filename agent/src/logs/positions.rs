//! Read positions, persisted atomically (write a temporary file, fsync, rename, fsync the
//! directory) and only after Loki acknowledged what they cover: a crash at any moment leaves
//! either the old or the new file, and a restart resends at most what was not acknowledged.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::tail::Position;

/// The positions file: target key → position.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Positions {
    /// Format version.
    #[serde(default)]
    pub version: u32,
    /// By target key (`docker:<id>` or `file:<path>`).
    #[serde(default)]
    pub targets: BTreeMap<String, Position>,
}

/// Why positions could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PositionsError {
    /// Reading or writing failed.
    #[error("positions file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not ours or is damaged.
    #[error("positions file {path}: not a positions file ({reason})")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
}

impl Positions {
    /// Loads `path`; a missing file is an empty set (first start).
    pub fn load(path: &Path) -> Result<Self, PositionsError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| PositionsError::Parse {
                path: path.to_owned(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(PositionsError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Writes `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), PositionsError> {
        let io = |source| PositionsError::Io {
            path: path.to_owned(),
            source,
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let tmp = path.with_extension("json.tmp");
        let body = serde_json::to_vec_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        {
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&body).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::tail::Ident;

    #[test]
    fn positions_round_trip_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/positions.json");
        assert_eq!(Positions::load(&path).unwrap(), Positions::default());
        let mut p = Positions {
            version: 1,
            ..Positions::default()
        };
        p.targets.insert(
            "file:/x".into(),
            Position {
                path: "/x".into(),
                ident: Ident { dev: 1, ino: 2 },
                offset: 42,
                fingerprint: "ab".into(),
            },
        );
        p.save(&path).unwrap();
        assert_eq!(Positions::load(&path).unwrap(), p);
        std::fs::write(&path, "garbage").unwrap();
        assert!(
            Positions::load(&path)
                .unwrap_err()
                .to_string()
                .contains("not a positions file")
        );
    }
}
