//! MTU probe: a small and a full-size echo with DF (`IP_PMTUDISC_PROBE`, see `sock`), then a
//! bounded search for the largest size that passes when the full size does not.

use std::collections::BTreeMap;

use preflight_model::probe::{FailureCause, MtuResult, MtuVerdict};

use crate::engine::{self, Job, JobStats, Params};
use crate::{icmp, EngineOptions, SocketSet, View, DEFAULT_SIZE};

/// At most this many search steps after the full-size probe failed.
pub(crate) const MAX_STEPS: u32 = 8;

/// IP + ICMP header bytes: an IP packet of size S carries an ICMP payload of S − overhead.
pub(crate) fn overhead(v6: bool) -> u32 {
    if v6 {
        48
    } else {
        28
    }
}

/// What a job of the first engine run is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The target's plain echo requests.
    Echo,
    /// The small DF echo of an MTU probe.
    Small,
    /// The full-size DF echo of an MTU probe.
    Large,
}

#[derive(Debug, Clone)]
struct Entry {
    expected: u32,
    sock: u16,
    v6: bool,
    small_ok: bool,
    large_ok: bool,
    large_failure: Option<FailureCause>,
}

/// MTU probes of a run.
#[derive(Debug, Default)]
pub(crate) struct MtuState {
    per: BTreeMap<usize, Entry>,
}

fn unknown(expected: u32) -> MtuResult {
    MtuResult {
        expected_mtu: expected,
        small_ok: false,
        large_ok: false,
        largest_ok: None,
        verdict: MtuVerdict::Unknown,
    }
}

/// Adds the DF jobs of every target with an expected MTU: the full-size one, and the small
/// one unless `echo_is_small` (then the target's own echo requests, no larger than the small
/// probe, answer "do small packets pass" and the caller records them as [`Role::Small`]; this
/// saves a third of the packets of an MTU-checking run). Returns the state and the results
/// already known (targets whose probe cannot run).
pub(crate) fn plan_jobs(
    view: &View<'_>,
    set: &mut SocketSet,
    opts: &EngineOptions,
    echo_is_small: bool,
    jobs: &mut Vec<Job>,
    owners: &mut Vec<(u32, Role)>,
) -> (MtuState, Vec<(usize, MtuResult)>) {
    let mut st = MtuState::default();
    let mut known = Vec::new();
    let retries = opts.retries.min(u32::from(u16::MAX)) as u16;
    for i in 0..view.len() {
        let Some(expected) = view.mtu(i) else {
            continue;
        };
        let addr = view.addr(i);
        let v6 = addr.is_ipv6();
        let oh = overhead(v6);
        let small_size = DEFAULT_SIZE as u32 + oh;
        if expected <= small_size || expected > 65_535 {
            known.push((i, unknown(expected)));
            continue;
        }
        let Ok(sock) = set.get(addr, view.source(i), view.device(i), true) else {
            known.push((i, unknown(expected)));
            continue;
        };
        let small = (!echo_is_small).then_some((Role::Small, DEFAULT_SIZE as u32));
        for (role, payload) in small.into_iter().chain([(Role::Large, expected - oh)]) {
            jobs.push(Job {
                dest: addr,
                sock,
                payload: payload as u16,
                retries,
                count: opts.count,
            });
            owners.push((i as u32, role));
        }
        st.per.insert(
            i,
            Entry {
                expected,
                sock,
                v6,
                small_ok: false,
                large_ok: false,
                large_failure: None,
            },
        );
    }
    (st, known)
}

/// Verdict of the first two probes.
pub(crate) fn verdict(
    small_ok: bool,
    large_ok: bool,
    large_failure: Option<&FailureCause>,
) -> MtuVerdict {
    match (small_ok, large_ok) {
        (_, true) => MtuVerdict::Ok,
        (false, false) => MtuVerdict::Unknown,
        (true, false) => match large_failure {
            Some(FailureCause::FragmentationNeeded { .. }) => MtuVerdict::FragmentationNeeded,
            Some(FailureCause::Timeout) | None => MtuVerdict::Blackhole,
            Some(_) => MtuVerdict::Unknown,
        },
    }
}

/// Next size to try between `lo` (passed) and `hi` (failed): a reported next-hop MTU or the
/// common 1500 first, then halves.
pub(crate) fn next_candidate(lo: u32, hi: u32, hint: Option<u32>, first: bool) -> u32 {
    if first {
        if let Some(h) = hint.filter(|&h| h > lo && h < hi) {
            return h;
        }
        if lo < 1500 && 1500 < hi {
            return 1500;
        }
    }
    lo + (hi - lo) / 2
}

impl MtuState {
    /// Records a first-run job of target `i`.
    pub(crate) fn record(&mut self, i: usize, role: Role, r: &JobStats) {
        if let Some(e) = self.per.get_mut(&i) {
            match role {
                Role::Small => e.small_ok = r.received > 0,
                Role::Large => {
                    e.large_ok = r.received > 0;
                    e.large_failure = r.failure();
                }
                Role::Echo => {}
            }
        }
    }

    /// Decides every verdict and runs the bounded search where the full size failed.
    pub(crate) fn search(
        self,
        view: &View<'_>,
        set: &SocketSet,
        params: Params,
        nonce: u32,
        out: &mut Vec<(usize, MtuResult)>,
    ) {
        // Index of each target's result in `out`.
        let mut at: BTreeMap<usize, usize> = BTreeMap::new();
        // (target, lo passed, hi failed, hint)
        let mut active: Vec<(usize, u32, u32, Option<u32>)> = Vec::new();
        for (&i, e) in &self.per {
            let v = verdict(e.small_ok, e.large_ok, e.large_failure.as_ref());
            at.insert(i, out.len());
            out.push((
                i,
                MtuResult {
                    expected_mtu: e.expected,
                    small_ok: e.small_ok,
                    large_ok: e.large_ok,
                    largest_ok: if e.large_ok { Some(e.expected) } else { None },
                    verdict: v,
                },
            ));
            if e.small_ok && !e.large_ok {
                let hint = match e.large_failure {
                    Some(FailureCause::FragmentationNeeded { mtu }) => mtu,
                    _ => None,
                };
                let lo = DEFAULT_SIZE as u32 + overhead(e.v6);
                out[at[&i]].1.largest_ok = Some(lo);
                active.push((i, lo, e.expected, hint));
            }
        }
        for step in 0..MAX_STEPS {
            active.retain(|a| a.2 > a.1 + 1);
            if active.is_empty() {
                break;
            }
            let mut jobs = Vec::with_capacity(active.len());
            let mut cands = Vec::with_capacity(active.len());
            for &(i, lo, hi, hint) in &active {
                let e = &self.per[&i];
                let c = next_candidate(lo, hi, hint, step == 0);
                cands.push(c);
                jobs.push(Job {
                    dest: view.addr(i),
                    sock: e.sock,
                    payload: (c - overhead(e.v6)).max(icmp::TOKEN_LEN as u32) as u16,
                    // Two requests a short interval apart, one timeout for both: a single
                    // lost packet does not end the search early, and a step costs one timeout.
                    retries: 0,
                    count: 2,
                });
            }
            let step_params = Params {
                interval: params.interval.min(std::time::Duration::from_millis(20)),
                ..params
            };
            let results = engine::run(&set.socks, &jobs, step_params, nonce);
            for ((a, c), r) in active.iter_mut().zip(cands).zip(results) {
                if r.received > 0 {
                    a.1 = c;
                    out[at[&a.0]].1.largest_ok = Some(c);
                } else {
                    a.2 = c;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        assert_eq!(verdict(true, true, None), MtuVerdict::Ok);
        assert_eq!(
            verdict(true, false, Some(&FailureCause::Timeout)),
            MtuVerdict::Blackhole
        );
        assert_eq!(
            verdict(
                true,
                false,
                Some(&FailureCause::FragmentationNeeded { mtu: Some(1500) })
            ),
            MtuVerdict::FragmentationNeeded
        );
        assert_eq!(
            verdict(false, false, Some(&FailureCause::Timeout)),
            MtuVerdict::Unknown
        );
        assert_eq!(
            verdict(true, false, Some(&FailureCause::AdminProhibited)),
            MtuVerdict::Unknown
        );
    }

    #[test]
    fn search_converges_on_1500_within_the_step_bound() {
        // Simulated path that carries up to 1500.
        let path = 1500;
        let (mut lo, mut hi) = (84, 9000);
        for step in 0..MAX_STEPS {
            if hi <= lo + 1 {
                break;
            }
            let c = next_candidate(lo, hi, None, step == 0);
            assert!(c > lo && c < hi);
            if c <= path {
                lo = c;
            } else {
                hi = c;
            }
        }
        assert_eq!(lo, 1500);
    }

    #[test]
    fn search_uses_reported_mtu_and_stays_bounded() {
        assert_eq!(next_candidate(84, 9000, Some(1400), true), 1400);
        assert_eq!(next_candidate(84, 9000, Some(9500), true), 1500);
        assert_eq!(next_candidate(84, 1400, None, true), 742);
        // an odd path: 8 steps bring the bracket within (9000-84)/2^7
        let path = 4321;
        let (mut lo, mut hi) = (84u32, 9000u32);
        for step in 0..MAX_STEPS {
            if hi <= lo + 1 {
                break;
            }
            let c = next_candidate(lo, hi, None, step == 0);
            if c <= path {
                lo = c;
            } else {
                hi = c;
            }
        }
        assert!(lo <= path && path - lo < 70, "lo {lo}");
    }
}
