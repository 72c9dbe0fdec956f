//! Group commit for the state dir: an append-only journal (`journal.jsonl`, one JSON record a
//! line) that many requests share one `fdatasync` for.
//!
//! A request [`Journal::append`]s its record (cheap: a copy into the queue, in the order the
//! in-memory state changed) and then [`Journal::wait`]s until the batch holding it is durable.
//! The first waiter to find no write in flight becomes the leader: it takes the whole queue,
//! writes it with one `write` and one `fdatasync`, and wakes everyone whose record it covered.
//! Records queued meanwhile form the next batch. So N concurrent registrations cost about
//! N / batch fsyncs instead of N, and no request is answered before its record is on disk.
//!
//! A torn last line (a crash mid-write: never acknowledged) is dropped on replay.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::CheckError;

#[derive(Debug)]
struct Queue {
    /// Records queued, not yet taken by a leader.
    buf: Vec<u8>,
    /// Sequence number of the last record queued.
    queued: u64,
    /// Sequence number up to which every record is durable (or failed).
    settled: u64,
    /// A leader is writing.
    writing: bool,
    /// Batches that failed: (first seq, last seq, error).
    failed: Vec<(u64, u64, String)>,
    /// The journal file and its length when no write is in flight (taken by the leader).
    file: Option<(File, u64)>,
    /// Batches written (fsyncs), for the benchmark and tests.
    batches: u64,
}

/// The journal of one state dir.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
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
            let mut reader = BufReader::new(&mut file);
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
            queue: Mutex::new(Queue {
                buf: Vec::new(),
                queued: 0,
                settled: 0,
                writing: false,
                failed: Vec::new(),
                file: Some((file, good)),
                batches: 0,
            }),
            settled: Condvar::new(),
        })
    }

    /// Queues one record (without its newline); returns its sequence number for [`Journal::wait`].
    pub(crate) fn append(&self, record: &[u8]) -> u64 {
        let mut q = self.lock();
        q.buf.extend_from_slice(record);
        q.buf.push(b'\n');
        q.queued += 1;
        q.queued
    }

    /// Sequence number of the last record queued (wait for it to flush everything so far).
    pub(crate) fn last(&self) -> u64 {
        self.lock().queued
    }

    /// Batches written so far (one fsync each).
    pub(crate) fn batches(&self) -> u64 {
        self.lock().batches
    }

    /// Blocks until record `seq` is durable; an error when its batch could not be written.
    pub(crate) fn wait(&self, seq: u64) -> Result<(), String> {
        let mut q = self.lock();
        loop {
            if q.settled >= seq {
                return match q.failed.iter().find(|(a, b, _)| (*a..=*b).contains(&seq)) {
                    Some((_, _, e)) => Err(e.clone()),
                    None => Ok(()),
                };
            }
            if q.writing {
                q = self.settled.wait(q).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // Lead: take everything queued and write it as one batch.
            let Some((mut file, len)) = q.file.take() else {
                return Err("the journal is not open".into());
            };
            q.writing = true;
            let buf = std::mem::take(&mut q.buf);
            let (first, upto) = (q.settled + 1, q.queued);
            drop(q);
            let written = file.write_all(&buf).and_then(|()| file.sync_data());
            let len = match &written {
                Ok(()) => len + buf.len() as u64,
                Err(_) => {
                    // Cut off whatever part of the batch reached the file: none of it is
                    // acknowledged, and the next batch must start on a clean line.
                    let _ = file.set_len(len);
                    let _ = file.sync_data();
                    len
                }
            };
            q = self.lock();
            q.file = Some((file, len));
            q.writing = false;
            q.settled = upto;
            q.batches += 1;
            if let Err(e) = written {
                q.failed.push((
                    first,
                    upto,
                    format!("cannot write {}: {e}", self.path.display()),
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
            .map(|r| j.append(format!("\"{r}\"").as_bytes()))
            .collect();
        assert_eq!(seqs, vec![1, 2, 3]);
        // The last waiter leads: one batch covers all three, and earlier ones are settled too.
        j.wait(3).unwrap();
        j.wait(1).unwrap();
        assert_eq!(j.batches(), 1);
        let d = j.append(b"\"d\"");
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
