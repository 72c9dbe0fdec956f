//! Group commit for the state dir: an append-only journal (`journal.jsonl`, one JSON record a
//! line) that many requests share one `fdatasync` for.
//!
//! A request [`Journal::append`]s its record (written to the file at once, in the order the
//! in-memory state changed, so nothing is queued in memory) and then [`Journal::wait`]s until
//! the batch holding it is durable. The first waiter to find no sync in flight becomes the
//! leader: one `fdatasync` covers every record written so far, and it wakes everyone whose
//! record that covered. Records written meanwhile form the next batch. So N concurrent registrations cost about
//! N / batch fsyncs instead of N, and no request is answered before its record is on disk.
//!
//! A torn last line (a crash mid-write: never acknowledged) is dropped on replay.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::CheckError;

#[derive(Debug)]
struct Queue {
    /// Sequence number of the last record written (not necessarily durable yet).
    queued: u64,
    /// Sequence number up to which every record is durable (or failed).
    settled: u64,
    /// A leader is syncing.
    syncing: bool,
    /// Batches whose sync failed: (first seq, last seq, error).
    failed: Vec<(u64, u64, String)>,
    /// Length of the file after the last complete record.
    len: u64,
    /// Batches synced (fsyncs), for the benchmark and tests.
    batches: u64,
}

/// The journal of one state dir.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    file: Arc<File>,
    queue: Mutex<Queue>,
    settled: Condvar,
}

impl Journal {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens (creating) `dir/journal.jsonl`, calling `replay` with each complete record in
    /// order; a torn last line is cut off so new records start on a line of their own.
    pub(crate) fn open(
        dir: &Path,
        mut replay: impl FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<Journal, CheckError> {
        let path = dir.join("journal.jsonl");
        let state = |e: std::io::Error| CheckError::State(format!("{}: {e}", path.display()));
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(state)?;
        let mut good: u64 = 0;
        {
            let mut reader = BufReader::with_capacity(1 << 16, &mut file);
            let mut line = Vec::new();
            let mut n = 0usize;
            loop {
                line.clear();
                let read = reader.read_until(b'\n', &mut line).map_err(state)?;
                if read == 0 {
                    break;
                }
                n += 1;
                if line.last() != Some(&b'\n') {
                    // Torn by a crash mid-write: never acknowledged, so dropped.
                    break;
                }
                replay(&line[..line.len() - 1])
                    .map_err(|e| CheckError::State(format!("{} line {n}: {e}", path.display())))?;
                good += read as u64;
            }
        }
        let len = file.seek(SeekFrom::End(0)).map_err(state)?;
        if len != good {
            file.set_len(good).map_err(state)?;
            file.sync_all().map_err(state)?;
        }
        // The journal file itself must survive a crash once records are acknowledged.
        File::open(dir).and_then(|d| d.sync_all()).map_err(state)?;
        Ok(Journal {
            path,
            file: Arc::new(file),
            queue: Mutex::new(Queue {
                queued: 0,
                settled: 0,
                syncing: false,
                failed: Vec::new(),
                len: good,
                batches: 0,
            }),
            settled: Condvar::new(),
        })
    }

    /// Writes one record (without its newline) to the journal — not yet synced — and returns
    /// its sequence number for [`Journal::wait`]. Nothing is held in memory for it.
    pub(crate) fn append(&self, record: &[u8]) -> Result<u64, String> {
        let mut q = self.lock();
        let mut f = &*self.file;
        let written = f.write_all(record).and_then(|()| f.write_all(b"\n"));
        if let Err(e) = written {
            // Cut off the part that reached the file: the next record starts on a clean line.
            let _ = self.file.set_len(q.len);
            return Err(format!("cannot write {}: {e}", self.path.display()));
        }
        q.len += record.len() as u64 + 1;
        q.queued += 1;
        Ok(q.queued)
    }

    /// Sequence number of the last record written (wait for it to flush everything so far).
    pub(crate) fn last(&self) -> u64 {
        self.lock().queued
    }

    /// Batches synced so far (one fsync each).
    pub(crate) fn batches(&self) -> u64 {
        self.lock().batches
    }

    /// Blocks until record `seq` is durable; an error when its batch could not be synced.
    pub(crate) fn wait(&self, seq: u64) -> Result<(), String> {
        let mut q = self.lock();
        loop {
            if q.settled >= seq {
                return match q.failed.iter().find(|(a, b, _)| (*a..=*b).contains(&seq)) {
                    Some((_, _, e)) => Err(e.clone()),
                    None => Ok(()),
                };
            }
            if q.syncing {
                q = self.settled.wait(q).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // Lead: one fdatasync covers every record written so far.
            q.syncing = true;
            let (first, upto) = (q.settled + 1, q.queued);
            drop(q);
            let synced = self.file.sync_data();
            q = self.lock();
            q.syncing = false;
            q.settled = upto;
            q.batches += 1;
            if let Err(e) = synced {
                q.failed.push((
                    first,
                    upto,
                    format!("cannot sync {}: {e}", self.path.display()),
                ));
            }
            self.settled.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_queued_together_are_written_with_one_fsync_and_replayed_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), |_| Ok(())).unwrap();
        let seqs: Vec<u64> = ["a", "b", "c"]
            .iter()
            .map(|r| j.append(format!("\"{r}\"").as_bytes()).unwrap())
            .collect();
        assert_eq!(seqs, vec![1, 2, 3]);
        // The last waiter leads: one batch covers all three, and earlier ones are settled too.
        j.wait(3).unwrap();
        j.wait(1).unwrap();
        assert_eq!(j.batches(), 1);
        let d = j.append(b"\"d\"").unwrap();
        j.wait(d).unwrap();
        assert_eq!(j.batches(), 2);
        drop(j);
        let mut seen = Vec::new();
        Journal::open(dir.path(), |l| {
            seen.push(String::from_utf8(l.to_vec()).unwrap());
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec!["\"a\"", "\"b\"", "\"c\"", "\"d\""]);
    }
}
