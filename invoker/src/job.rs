//! Pure job bookkeeping, shared by every execution mode: which attempt of which task runs
//! next, which result counts, and when a job is finished, failed or timed out. No IO and no
//! clock: callers pass `now` (seconds), so tests drive it with a fake clock.
//!
//! Rules: the first successful attempt to report is the one merged (exactly once; any later
//! result for that task, successful or not, is a duplicate); a retryable failure of the
//! latest attempt launches a new attempt while attempts remain; a failure of an older
//! attempt while a newer one runs is ignored; a non-retryable failure or the last attempt's
//! failure gives the task up. Lost attempts (no heartbeat) arrive as retryable failures from
//! the transport.

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobPolicy {
    pub max_attempts: u32,
    /// Seconds from the job's start after which it fails.
    pub timeout: f64,
}

impl Default for JobPolicy {
    fn default() -> Self {
        JobPolicy { max_attempts: 3, timeout: 60.0 }
    }
}

/// What to do with a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The task's result: merge it.
    Accepted,
    /// Already have this task's result (or a newer attempt is running): drop it.
    Duplicate,
    /// Launch this attempt of the task.
    Retry { attempt: u32 },
    /// The task failed for good.
    GaveUp,
}

#[derive(Debug, Clone)]
pub struct JobState {
    policy: JobPolicy,
    started: f64,
    launched: Vec<u32>,
    accepted: Vec<Option<u32>>,
    gave_up: Vec<Option<String>>,
}

impl JobState {
    pub fn new(n_tasks: usize, policy: JobPolicy, now: f64) -> JobState {
        JobState {
            policy,
            started: now,
            launched: vec![1; n_tasks],
            accepted: vec![None; n_tasks],
            gave_up: vec![None; n_tasks],
        }
    }

    /// Attempt 0 of every task.
    pub fn initial(&self) -> Vec<(usize, u32)> {
        (0..self.launched.len()).map(|i| (i, 0)).collect()
    }

    /// Records a result of `attempt` of `task`: `Ok(())`, or `Err((message, retryable))`.
    pub fn on_result(&mut self, task: usize, attempt: u32, outcome: Result<(), (&str, bool)>) -> Verdict {
        if task >= self.launched.len() || self.accepted[task].is_some() || self.gave_up[task].is_some() {
            return Verdict::Duplicate;
        }
        match outcome {
            Ok(()) => {
                self.accepted[task] = Some(attempt);
                Verdict::Accepted
            }
            Err(_) if attempt + 1 < self.launched[task] => Verdict::Duplicate,
            Err((_, true)) if self.launched[task] < self.policy.max_attempts => {
                self.launched[task] += 1;
                Verdict::Retry { attempt: self.launched[task] - 1 }
            }
            Err((message, _)) => {
                self.gave_up[task] = Some(message.to_string());
                Verdict::GaveUp
            }
        }
    }

    pub fn timed_out(&self, now: f64) -> bool {
        now - self.started >= self.policy.timeout
    }

    /// Seconds left before the timeout.
    pub fn remaining(&self, now: f64) -> f64 {
        (self.policy.timeout - (now - self.started)).max(0.0)
    }

    /// Every task has its result or was given up.
    pub fn is_finished(&self) -> bool {
        (0..self.launched.len()).all(|i| self.accepted[i].is_some() || self.gave_up[i].is_some())
    }

    /// Attempts launched so far.
    pub fn attempts(&self) -> u32 {
        self.launched.iter().sum()
    }

    /// Tasks given up, with the last error.
    pub fn failures(&self) -> Vec<(usize, &str)> {
        self.gave_up.iter().enumerate().filter_map(|(i, m)| m.as_deref().map(|m| (i, m))).collect()
    }

    /// Tasks still without a result.
    pub fn pending(&self) -> Vec<usize> {
        (0..self.launched.len()).filter(|&i| self.accepted[i].is_none() && self.gave_up[i].is_none()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Result<(), (&str, bool)> = Err(("connection reset", true));
    const P: Result<(), (&str, bool)> = Err(("corrupt part", false));

    #[test]
    fn retries_retryable_failures_up_to_max_attempts() {
        let mut j = JobState::new(2, JobPolicy { max_attempts: 3, timeout: 60.0 }, 0.0);
        assert_eq!(j.initial(), vec![(0, 0), (1, 0)]);
        assert_eq!(j.on_result(0, 0, T), Verdict::Retry { attempt: 1 });
        assert_eq!(j.on_result(0, 1, T), Verdict::Retry { attempt: 2 });
        assert_eq!(j.on_result(0, 2, T), Verdict::GaveUp);
        assert_eq!(j.on_result(1, 0, Ok(())), Verdict::Accepted);
        assert!(j.is_finished());
        assert_eq!(j.failures(), vec![(0, "connection reset")]);
        assert_eq!(j.attempts(), 4);
    }

    #[test]
    fn non_retryable_failures_give_up_at_once() {
        let mut j = JobState::new(1, JobPolicy::default(), 0.0);
        assert_eq!(j.on_result(0, 0, P), Verdict::GaveUp);
        assert!(j.is_finished());
        assert_eq!(j.attempts(), 1);
    }

    #[test]
    fn exactly_one_success_counts_and_late_results_are_duplicates() {
        let mut j = JobState::new(1, JobPolicy::default(), 0.0);
        // Attempt 0 is lost (the transport reports it as a retryable failure)...
        assert_eq!(j.on_result(0, 0, Err(("lost: no heartbeat for 20 s", true))), Verdict::Retry { attempt: 1 });
        // ...then both attempts succeed: only the first to report counts.
        assert_eq!(j.on_result(0, 1, Ok(())), Verdict::Accepted);
        assert_eq!(j.on_result(0, 0, Ok(())), Verdict::Duplicate);
        assert_eq!(j.on_result(0, 1, Ok(())), Verdict::Duplicate, "a duplicated envelope");
        assert!(j.is_finished() && j.failures().is_empty());
    }

    #[test]
    fn an_old_attempts_failure_does_not_cancel_a_running_retry() {
        let mut j = JobState::new(1, JobPolicy::default(), 0.0);
        assert_eq!(j.on_result(0, 0, T), Verdict::Retry { attempt: 1 });
        assert_eq!(j.on_result(0, 0, P), Verdict::Duplicate);
        assert_eq!(j.pending(), vec![0]);
        assert_eq!(j.on_result(0, 1, Ok(())), Verdict::Accepted);
    }

    #[test]
    fn timeout_follows_the_fake_clock() {
        let j = JobState::new(3, JobPolicy { max_attempts: 3, timeout: 60.0 }, 1000.0);
        assert!(!j.timed_out(1059.9));
        assert_eq!(j.remaining(1030.0), 30.0);
        assert!(j.timed_out(1060.0));
        assert_eq!(j.remaining(2000.0), 0.0);
        assert_eq!(j.pending(), vec![0, 1, 2]);
    }
}
