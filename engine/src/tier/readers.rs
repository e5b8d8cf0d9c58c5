//! The threads that do cold reads which may wait for the disk (the connections' prefetches).
//!
//! A small fixed pool fed by one channel, rather than tokio's blocking pool: that pool wakes an
//! idle thread for every task, and starts another while all are busy, so under load each cold
//! read cost two context switches and several threads contended on a 2-core machine. Here a
//! reader that is busy takes the next job without sleeping, and a submit wakes a reader only
//! if one is parked.

use crossbeam::channel::{self, Receiver, Sender};

type Job = Box<dyn FnOnce() + Send>;

/// The pool. Its threads end once it is dropped and the jobs already queued are done.
pub struct Readers {
    tx: Sender<Job>,
}

impl Readers {
    /// Starts `threads` readers (at least one).
    pub fn start(threads: usize) -> Result<Readers, String> {
        let (tx, rx) = channel::unbounded::<Job>();
        for i in 0..threads.max(1) {
            let rx: Receiver<Job> = rx.clone();
            std::thread::Builder::new()
                .name(format!("strata-cold-read-{i}"))
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        // A job that panics is lost (its caller sees its reply channel
                        // closed and reads on its own thread); the reader goes on.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })
                .map_err(|e| format!("cannot start a cold-tier reader thread: {e}"))?;
        }
        Ok(Readers { tx })
    }

    /// Queues `job` for a reader. False only if every reader thread is gone, which a job's
    /// panic does not cause.
    pub fn run(&self, job: impl FnOnce() + Send + 'static) -> bool {
        self.tx.send(Box::new(job)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_runs_once_on_a_reader_thread() {
        let pool = Readers::start(2).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        for i in 0..100 {
            let tx = tx.clone();
            assert!(pool.run(move || {
                let name = std::thread::current().name().map(str::to_owned);
                tx.send((i, name)).unwrap();
            }));
        }
        // A panicking job takes no reader with it.
        for _ in 0..4 {
            assert!(pool.run(|| panic!("a job that fails")));
        }
        let tx2 = tx.clone();
        assert!(pool.run(move || tx2.send((100, Some("after".into()))).unwrap()));
        drop(tx);
        let mut seen: Vec<_> = rx.iter().collect();
        seen.sort();
        assert_eq!(seen.pop(), Some((100, Some("after".into()))));
        assert_eq!(seen.len(), 100);
        for (n, (i, name)) in seen.into_iter().enumerate() {
            assert_eq!(i, n);
            assert!(name.unwrap().starts_with("strata-cold-read-"));
        }
    }
}
