//! Funnel insights on one part (docs/query-language.md "Funnel insights"): the durations of
//! each group's witnessed matching per step, and the users per breakdown value per step.
//! The mergeable forms and their merge are in `protocol::insights`.

use crate::EngineError;
use crate::aggregate::KeyCoder;
use crate::frame::Frame;
use crate::sequence::{Ts, Witness};
use hashbrown::HashMap;
use protocol::insights::{Breakdown, Durations, PartialBreakdown, PartialTimings};
use protocol::{AggOptions, Step};
use std::collections::BTreeMap;

/// Durations per step: `None` for the first positive step (nothing before it) and for
/// `rowFound: false` steps (no row of theirs is matched).
pub(crate) struct TimingAcc {
    steps: Vec<Option<PartialTimings>>,
}

impl TimingAcc {
    pub fn new(sequence: &[Step], exact_limit: usize, int_timestamps: bool) -> TimingAcc {
        let first_pos = sequence.iter().position(|s| s.row_found);
        let steps = sequence
            .iter()
            .enumerate()
            .map(|(k, s)| {
                (s.row_found && Some(k) != first_pos).then(|| PartialTimings {
                    from_first: Durations::new(exact_limit, int_timestamps),
                    from_previous: Durations::new(exact_limit, int_timestamps),
                })
            })
            .collect();
        TimingAcc { steps }
    }

    /// Adds one group's witnessed matching.
    pub fn add<T: Ts>(&mut self, witness: &[Witness<T>]) {
        for (acc, w) in self.steps.iter_mut().zip(witness) {
            if let (Some(acc), Some((t, first, prev))) = (acc.as_mut(), w) {
                let (d, x) = T::duration(*first, *t);
                acc.from_first.add(&d, x);
                let (d, x) = T::duration(*prev, *t);
                acc.from_previous.add(&d, x);
            }
        }
    }

    pub fn finish(self) -> Vec<Option<PartialTimings>> {
        self.steps
            .into_iter()
            .map(|s| {
                s.map(|mut t| {
                    t.from_first.seal();
                    t.from_previous.seal();
                    t
                })
            })
            .collect()
    }
}

/// Users per value of the breakdown column per step. A user's value is the one of its earliest
/// row matching the first positive step (ties: the first such row of the part); a user without
/// one (only with a leading `rowFound: false` step) counts under null.
pub(crate) struct BreakdownAcc<'a> {
    spec: &'a Breakdown,
    coder: KeyCoder<'a>,
    first_mask: Option<&'a [bool]>,
    /// Users per (value, step): dense `[(id + 1) * steps + step]` (0 = null) when the column's
    /// ids are known up front, else a map.
    dense: Option<Vec<u64>>,
    counts: HashMap<Option<u32>, Vec<u64>>,
    steps: usize,
}

impl<'a> BreakdownAcc<'a> {
    pub fn new(
        frame: &'a Frame,
        spec: &'a Breakdown,
        sequence: &[Step],
        masks: &'a [Vec<bool>],
    ) -> Result<Self, EngineError> {
        let first_mask = sequence.iter().position(|s| s.row_found).map(|k| masks[k].as_slice());
        let coder = KeyCoder::new(frame.column(&spec.column)?);
        let steps = sequence.len();
        // Dense up to 64 Ki values (a few MiB at most); larger dictionaries use the map.
        let dense = coder.dense_ids().filter(|&n| n <= 1 << 16).map(|n| vec![0; (n + 1) * steps]);
        Ok(BreakdownAcc { spec, coder, first_mask, dense, counts: HashMap::new(), steps })
    }

    /// Counts the group of rows `lo..hi` at every step it reached.
    pub fn add(&mut self, lo: usize, hi: usize, prefix_ok: &[bool]) {
        if !prefix_ok.first().copied().unwrap_or(false) {
            return;
        }
        let row = self.first_mask.and_then(|m| (lo..hi).find(|&r| m[r]));
        let key = row.and_then(|r| self.coder.id(r));
        let users = match self.dense.as_mut() {
            Some(d) => {
                let at = key.map_or(0, |k| k as usize + 1) * self.steps;
                &mut d[at..at + self.steps]
            }
            None => self.counts.entry(key).or_insert_with(|| vec![0; self.steps]).as_mut_slice(),
        };
        for (u, &ok) in users.iter_mut().zip(prefix_ok) {
            *u += u64::from(ok);
        }
    }

    pub fn finish(self, opts: &AggOptions) -> PartialBreakdown {
        let coder = &self.coder;
        let steps = self.steps;
        let counts: BTreeMap<Option<String>, Vec<u64>> = match self.dense {
            // Values no user had are not entries (as with the map).
            Some(d) => d
                .chunks(steps)
                .enumerate()
                .filter(|(_, u)| u[0] > 0)
                .map(|(i, u)| ((i > 0).then(|| coder.key(i as u32 - 1)), u.to_vec()))
                .collect(),
            None => self.counts.into_iter().map(|(k, v)| (k.map(|id| coder.key(id)), v)).collect(),
        };
        let keep = ((self.spec.top as f64) * opts.grace_factor).ceil() as usize;
        PartialBreakdown::from_counts(&self.spec.column, self.spec.top, self.steps, counts, opts.exact_limit, keep)
    }
}
