//! The worker's task threads: where a task's blocking work runs (decoding a part, running the
//! engine on it, describing a part for registration), off the async runtime.
//!
//! **Why not `tokio::task::spawn_blocking`.** Tokio's blocking pool starts a new thread
//! whenever a call finds none idle — also when the thread of the task just finished has not
//! yet gone back to idle, which is exactly when the invoker hands over the next part. A
//! process's first query therefore spread its parts over more threads than ever ran at once
//! (a `perf sched` of bounce q9, 2 concurrent tasks: 4 threads), and every new thread started
//! with none of the Parquet reader's per-thread scratch (`parquet.rs`, `Scratch`) and an empty
//! allocator heap: fresh memory faulted in while the query ran, on top of the part's own. Here
//! a fixed set of threads, as many as tasks run at once, carries that working memory from part
//! to part, from the first query on (docs/benchmarks.md, tenth session: the first query of a
//! process measured against later ones).
//!
//! Invariants: at most `threads` closures run at once (later ones wait in the pool's queue); a
//! closure that panics is reported to its caller as [`WorkerError::Panicked`] and its thread
//! goes on serving; a caller that stops waiting (its future dropped) does not stop a closure
//! already queued or running — it runs to the end and its result is dropped, as with
//! `spawn_blocking`. One subtlety of rayon: a closure that waits on *another* rayon pool
//! (polars' own, inside a polars operation) keeps its thread busy meanwhile, and the thread
//! may start another queued closure before the wait ends. Each closure's state is its own and
//! the reader's per-thread scratch is taken out of its slot while in use (a nested read finds
//! it empty and makes its own), so that is safe; it only means two parts' working memory on one
//! thread for a while.

use crate::WorkerError;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// A fixed pool of threads named `frocket-task-N` (see the module docs).
#[derive(Debug)]
pub struct TaskThreads {
    pool: rayon::ThreadPool,
}

impl TaskThreads {
    /// `threads` threads; 0 means one per core.
    pub fn new(threads: usize) -> Result<TaskThreads, WorkerError> {
        let n = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("frocket-task-{i}"))
            .build()
            .map(|pool| TaskThreads { pool })
            .map_err(|e| WorkerError::Internal(format!("start {n} task threads: {e}")))
    }

    pub fn count(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Runs `f` on one of the threads and waits for it without blocking the async runtime.
    /// `what` names the work in the error if `f` panics.
    pub async fn run<T, F>(&self, what: &str, f: F) -> Result<T, WorkerError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.pool.spawn(move || {
            // The receiver may be gone (the caller stopped waiting): nothing to report to.
            let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
        });
        match rx.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(panic)) => Err(WorkerError::Panicked(format!("{what}: {}", panic_message(panic.as_ref())))),
            // The pool dropped the closure without running it (only while shutting down).
            Err(_) => Err(WorkerError::Internal(format!("{what}: the task threads stopped"))),
        }
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    match (p.downcast_ref::<&str>(), p.downcast_ref::<String>()) {
        (Some(s), _) => s.to_string(),
        (_, Some(s)) => s.clone(),
        _ => "(no message)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_runs_on_the_fixed_threads_only_and_at_most_that_many_at_once() {
        let threads = Arc::new(TaskThreads::new(2).unwrap());
        let names = Arc::new(Mutex::new(HashSet::new()));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut calls = Vec::new();
        for i in 0..24u64 {
            let (t, names, running, most) = (threads.clone(), names.clone(), running.clone(), most.clone());
            // 24 calls at once: tokio's blocking pool would start a thread for most of them.
            calls.push(tokio::spawn(async move {
                t.run("test work", move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    names.lock().unwrap().insert(std::thread::current().name().map(str::to_string));
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    running.fetch_sub(1, Ordering::SeqCst);
                    i * i
                })
                .await
            }));
        }
        for (i, c) in calls.into_iter().enumerate() {
            assert_eq!(c.await.unwrap().unwrap(), (i * i) as u64);
        }
        let names = names.lock().unwrap().clone();
        let expected: HashSet<_> = (0..2).map(|i| Some(format!("frocket-task-{i}"))).collect();
        assert!(names.is_subset(&expected), "ran on {names:?}");
        assert!(most.load(Ordering::SeqCst) <= 2, "{} at once", most.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_panic_is_an_error_for_its_caller_and_the_thread_serves_on() {
        let threads = TaskThreads::new(1).unwrap();
        let e = threads.run("query part p", || -> u32 { panic!("boom {}", 7) }).await.unwrap_err();
        assert!(matches!(&e, WorkerError::Panicked(m) if m == "query part p: boom 7"), "{e}");
        assert!(e.is_retryable());
        let e = threads.run("x", || -> u32 { std::panic::panic_any(3u8) }).await.unwrap_err();
        assert!(matches!(&e, WorkerError::Panicked(m) if m == "x: (no message)"), "{e}");
        assert_eq!(threads.run("after", || 41 + 1).await.unwrap(), 42);
    }

    #[test]
    fn zero_threads_means_one_per_core() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(TaskThreads::new(0).unwrap().count(), cores);
        assert_eq!(TaskThreads::new(3).unwrap().count(), 3);
    }
}
