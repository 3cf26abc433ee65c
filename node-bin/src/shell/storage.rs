//! The data dir: the fsync'd append-only acceptor log and the boot generation.

use crate::core::wal::{self, Record};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Errors of the data dir, each naming the file.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a generation number: {text:?}")]
    BadGen { path: PathBuf, text: String },
}

pub type Result<T> = std::result::Result<T, StorageError>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Writes `bytes` to `path` atomically and durably (tmp file, fsync, rename, fsync dir).
fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    sync_dir(dir)
}

/// Reads the previous boot generation, adds one and stores it durably.
pub fn next_generation(dir: &Path) -> Result<u64> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join("generation");
    let prev = match fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .map_err(|_| StorageError::BadGen {
                path: path.clone(),
                text: text.clone(),
            })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(io(&path)(e)),
    };
    let next = prev + 1;
    write_atomic(dir, &path, format!("{next}\n").as_bytes())?;
    Ok(next)
}

/// The open acceptor log.
#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    records: usize,
    buf: Vec<u8>,
}

impl Log {
    /// Opens (or creates) the log, replays it, and cuts off a torn tail.
    pub fn open(dir: &Path) -> Result<(Log, Vec<Record>)> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join("acceptor.log");
        let mut bytes = Vec::new();
        if path.exists() {
            File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut bytes))
                .map_err(io(&path))?;
        }
        let replay = wal::replay(&bytes);
        if replay.torn_tail {
            tracing::warn!(path = %path.display(), kept = replay.valid_len, len = bytes.len(), "dropping torn tail of the acceptor log");
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        file.set_len(replay.valid_len as u64).map_err(io(&path))?;
        file.sync_all().map_err(io(&path))?;
        let records: Vec<Record> = replay.slots.into_values().collect();
        let log = Log {
            dir: dir.to_path_buf(),
            path,
            file,
            records: replay.records,
            buf: Vec::new(),
        };
        Ok((log, records))
    }

    /// Appends records and fsyncs them (one fdatasync for the whole batch).
    pub fn append(&mut self, recs: &[Record]) -> Result<()> {
        if recs.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        for r in recs {
            wal::encode(r, &mut self.buf);
        }
        self.file.write_all(&self.buf).map_err(io(&self.path))?;
        self.file.sync_data().map_err(io(&self.path))?;
        self.records += recs.len();
        Ok(())
    }

    /// Number of records in the file.
    pub fn records(&self) -> usize {
        self.records
    }

    /// Rewrites the log with one record per live slot.
    pub fn compact(&mut self, live: &[Record]) -> Result<()> {
        let mut bytes = Vec::new();
        for r in live {
            wal::encode(r, &mut bytes);
        }
        write_atomic(&self.dir, &self.path, &bytes)?;
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(io(&self.path))?;
        self.records = live.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::message::Ballot;

    fn rec(key: &str, round: u64) -> Record {
        let mut promised = Ballot::zero();
        promised.round = round;
        Record {
            key: key.into(),
            promised,
            accepted: None,
        }
    }

    #[test]
    fn generation_grows_across_opens() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(next_generation(d.path()).unwrap(), 1);
        assert_eq!(next_generation(d.path()).unwrap(), 2);
    }

    #[test]
    fn log_survives_reopen_and_compaction() {
        let d = tempfile::tempdir().unwrap();
        let (mut log, recs) = Log::open(d.path()).unwrap();
        assert!(recs.is_empty());
        log.append(&[rec("a", 1), rec("b", 1), rec("a", 2)])
            .unwrap();
        drop(log);
        let (mut log, recs) = Log::open(d.path()).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(log.records(), 3);
        log.compact(&recs).unwrap();
        log.append(&[rec("c", 5)]).unwrap();
        drop(log);
        let (log, recs) = Log::open(d.path()).unwrap();
        assert_eq!(log.records(), 3);
        let a = recs.iter().find(|r| r.key == "a").unwrap();
        assert_eq!(a.promised.round, 2);
    }

    #[test]
    fn torn_tail_is_truncated_on_open() {
        let d = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(d.path()).unwrap();
        log.append(&[rec("a", 1)]).unwrap();
        drop(log);
        let path = d.path().join("acceptor.log");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
        drop(f);
        let (mut log, recs) = Log::open(d.path()).unwrap();
        assert_eq!(recs.len(), 1);
        log.append(&[rec("b", 1)]).unwrap();
        drop(log);
        let (_, recs) = Log::open(d.path()).unwrap();
        assert_eq!(
            recs.len(),
            2,
            "a record appended after the cut must be readable"
        );
    }
}
