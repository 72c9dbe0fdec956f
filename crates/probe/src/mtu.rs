//! MTU probe: a small and a full-size echo with DF (`IP_PMTUDISC_PROBE`, see `sock`), then a
//! bounded search for the largest size that passes when the full size does not.
//!
//! The search sends the sizes of a round together, so a blackholed path costs one timeout per
//! round, not one per size: round one tries the common MTUs (1280, 1400, 1450, 1480, 1492,
//! 1500, and the reported next-hop MTU) each with the size one above it, plus
//! [`ROUND_SIZES`] sizes spread over the bracket; an exact hit (`m` passes, `m + 1` does not)
//! ends it. Round two spreads [`ROUND_SIZES`] sizes over what is left, so after
//! [`MAX_ROUNDS`] rounds the answer is within `(expected − 84) / (ROUND_SIZES + 1)²` bytes.

use std::collections::BTreeMap;

use preflight_model::probe::{FailureCause, MtuResult, MtuVerdict};

use crate::engine::{self, Job, JobStats, Params};
use crate::{icmp, EngineOptions, SocketSet, View, DEFAULT_SIZE};

/// At most this many search rounds after the full-size probe failed (each one timeout).
pub(crate) const MAX_ROUNDS: u32 = 2;

/// Sizes spread evenly over the bracket in each round (on top of round one's common MTUs).
pub(crate) const ROUND_SIZES: u32 = 16;

/// Common path MTUs tried exactly in round one (with the size one above each).
pub(crate) const COMMON_MTUS: [u32; 6] = [1280, 1400, 1450, 1480, 1492, 1500];

/// IP + ICMP header bytes: an IP packet of size S carries an ICMP payload of S − overhead.
pub(crate) fn overhead(v6: bool) -> u32 {
    if v6 {
        48
    } else {
        28
    }
}

/// IP size of the small probe (the default echo payload plus headers): a search's floor.
fn small_ip_size(v6: bool) -> u32 {
    DEFAULT_SIZE as u32 + overhead(v6)
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
        if expected <= small_ip_size(v6) || expected > 65_535 {
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

/// The sizes of one search round strictly between `lo` (passed) and `hi` (failed), sorted:
/// in the first round the common MTUs and the reported next-hop MTU, each with the size one
/// above it, and in every round [`ROUND_SIZES`] sizes spread evenly over the bracket.
pub(crate) fn round_candidates(lo: u32, hi: u32, hint: Option<u32>, first: bool) -> Vec<u32> {
    let mut out = std::collections::BTreeSet::new();
    if first {
        for m in COMMON_MTUS.iter().copied().chain(hint) {
            for c in [m, m + 1] {
                if c > lo && c < hi {
                    out.insert(c);
                }
            }
        }
    }
    let span = u64::from(hi.saturating_sub(lo));
    for k in 1..=u64::from(ROUND_SIZES) {
        let c = u64::from(lo) + span * k / (u64::from(ROUND_SIZES) + 1);
        if let Ok(c) = u32::try_from(c) {
            if c > lo && c < hi {
                out.insert(c);
            }
        }
    }
    out.into_iter().collect()
}

/// Narrows `(lo, hi)` by one round's outcomes `(size, passed)`: the largest size that passed,
/// and the smallest failed size above it (a failure below a pass is a lost packet, not a limit).
pub(crate) fn narrow(lo: u32, hi: u32, outcomes: &[(u32, bool)]) -> (u32, u32) {
    let lo = outcomes
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(c, _)| *c)
        .fold(lo, u32::max);
    let hi = outcomes
        .iter()
        .filter(|(c, ok)| !*ok && *c > lo)
        .map(|(c, _)| *c)
        .fold(hi, u32::min);
    (lo, hi)
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

    /// Whether target `i` has an MTU probe whose small echo passed and full size did not.
    fn blackholed(&self, i: usize) -> bool {
        self.per.get(&i).is_some_and(|e| e.small_ok && !e.large_ok)
    }

    /// Brackets to search: every target whose small echo passed and full size did not.
    pub(crate) fn begin(&self) -> Search {
        let mut s = Search::default();
        for (&i, e) in &self.per {
            if e.small_ok && !e.large_ok {
                let hint = match e.large_failure {
                    Some(FailureCause::FragmentationNeeded { mtu }) => mtu,
                    _ => None,
                };
                let lo = small_ip_size(e.v6);
                s.brackets.insert(
                    i,
                    Bracket {
                        lo,
                        hi: e.expected,
                        hint,
                        rounds: 0,
                    },
                );
            }
        }
        s
    }

    /// The jobs of the next round of every open bracket (all sizes of a round go together),
    /// appended to `jobs`; returns which (target, size) each appended job is.
    pub(crate) fn round_jobs(
        &self,
        s: &Search,
        view: &View<'_>,
        jobs: &mut Vec<Job>,
    ) -> Vec<(usize, u32)> {
        let mut owner = Vec::new();
        for (&i, b) in &s.brackets {
            if b.rounds >= MAX_ROUNDS || b.hi <= b.lo + 1 || !self.blackholed(i) {
                continue;
            }
            let e = &self.per[&i];
            for c in round_candidates(b.lo, b.hi, b.hint, b.rounds == 0) {
                owner.push((i, c));
                jobs.push(size_job(e, view.addr(i), c));
            }
        }
        owner
    }

    /// Round one of target `i`'s search, started before the first run ends: its full-size
    /// probe is silent one interval after its last request while small packets passed (a
    /// blackhole so far), so the search shares the full-size probe's wait instead of
    /// costing one more. The sizes and the `(target, size)` of each job, as
    /// [`Self::round_jobs`] would give them once the bracket exists; `None` when `i` has
    /// no MTU probe.
    pub(crate) fn early_round(&self, i: usize, dest: std::net::IpAddr) -> Option<Vec<(u32, Job)>> {
        let e = self.per.get(&i)?;
        let lo = small_ip_size(e.v6);
        Some(
            round_candidates(lo, e.expected, None, true)
                .into_iter()
                .map(|c| (c, size_job(e, dest, c)))
                .collect(),
        )
    }

    /// Narrows the brackets by one round's results (`owner` as [`Self::round_jobs`] gave it).
    pub(crate) fn apply_round(s: &mut Search, owner: &[(usize, u32)], results: &[JobStats]) {
        let mut outcomes: BTreeMap<usize, Vec<(u32, bool)>> = BTreeMap::new();
        for (&(i, c), r) in owner.iter().zip(results) {
            outcomes.entry(i).or_default().push((c, r.received > 0));
        }
        for (i, o) in outcomes {
            if let Some(b) = s.brackets.get_mut(&i) {
                (b.lo, b.hi) = narrow(b.lo, b.hi, &o);
                b.rounds += 1;
            }
        }
    }

    /// Runs the rounds still open, one engine run (one timeout) per round.
    pub(crate) fn finish_search(
        &self,
        s: &mut Search,
        view: &View<'_>,
        set: &SocketSet,
        params: Params,
        nonce: u32,
    ) {
        for _ in 0..MAX_ROUNDS {
            let mut jobs = Vec::new();
            let owner = self.round_jobs(s, view, &mut jobs);
            if jobs.is_empty() {
                break;
            }
            let results = engine::run(&set.socks, &jobs, search_params(params), nonce);
            Self::apply_round(s, &owner, &results);
        }
    }

    /// Every target's MTU result.
    pub(crate) fn results(&self, s: &Search, out: &mut Vec<(usize, MtuResult)>) {
        for (&i, e) in &self.per {
            let largest_ok = if e.large_ok {
                Some(e.expected)
            } else if e.small_ok {
                s.brackets
                    .get(&i)
                    .map(|b| b.lo)
                    .or(Some(small_ip_size(e.v6)))
            } else {
                None
            };
            out.push((
                i,
                MtuResult {
                    expected_mtu: e.expected,
                    small_ok: e.small_ok,
                    large_ok: e.large_ok,
                    largest_ok,
                    verdict: verdict(e.small_ok, e.large_ok, e.large_failure.as_ref()),
                },
            ));
        }
    }
}

/// The job of one search size: two requests (a short interval apart in a search round),
/// one timeout for both, so a single lost packet does not make a size look too big.
fn size_job(e: &Entry, dest: std::net::IpAddr, size: u32) -> Job {
    Job {
        dest,
        sock: e.sock,
        payload: (size - overhead(e.v6)).max(icmp::TOKEN_LEN as u32) as u16,
        retries: 0,
        count: 2,
    }
}

/// Pacing of a search round: requests of one size a short interval apart.
pub(crate) fn search_params(params: Params) -> Params {
    Params {
        interval: params.interval.min(std::time::Duration::from_millis(20)),
        ..params
    }
}

/// One target's search: `lo` passed, `hi` failed.
#[derive(Debug, Clone, Copy)]
struct Bracket {
    lo: u32,
    hi: u32,
    hint: Option<u32>,
    rounds: u32,
}

/// The MTU searches of a run.
#[derive(Debug, Default)]
pub(crate) struct Search {
    brackets: BTreeMap<usize, Bracket>,
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

    /// Runs the search against a simulated path that carries up to `path` bytes.
    fn simulate(path: u32, expected: u32, hint: Option<u32>) -> (u32, u32, u32) {
        let (mut lo, mut hi) = (84, expected);
        let mut rounds = 0;
        for round in 0..MAX_ROUNDS {
            if hi <= lo + 1 {
                break;
            }
            let cands = round_candidates(lo, hi, hint, round == 0);
            assert!(cands.iter().all(|&c| c > lo && c < hi));
            assert!(cands.len() <= ROUND_SIZES as usize + 2 * (COMMON_MTUS.len() + 1));
            let outcomes: Vec<(u32, bool)> = cands.iter().map(|&c| (c, c <= path)).collect();
            (lo, hi) = narrow(lo, hi, &outcomes);
            rounds += 1;
        }
        (lo, hi, rounds)
    }

    #[test]
    fn a_common_mtu_is_found_exactly_in_one_round() {
        for path in COMMON_MTUS {
            assert_eq!(simulate(path, 9000, None), (path, path + 1, 1), "{path}");
        }
        // The reported next-hop MTU too.
        assert_eq!(simulate(4321, 9000, Some(4321)), (4321, 4322, 1));
    }

    #[test]
    fn any_other_size_is_bracketed_within_the_bound_in_two_rounds() {
        let bound = (9000 - 84) / ((ROUND_SIZES + 1) * (ROUND_SIZES + 1)) + 1;
        for path in [100, 777, 2000, 4321, 8191, 8999] {
            let (lo, hi, rounds) = simulate(path, 9000, None);
            assert!(rounds <= MAX_ROUNDS);
            assert!(lo <= path && path < hi, "{path}: {lo}..{hi}");
            assert!(path - lo <= bound, "{path}: lo {lo}, bound {bound}");
        }
    }

    #[test]
    fn a_lost_packet_below_a_pass_does_not_lower_the_bracket() {
        // 1400 "failed" (lost) while 1500 passed: the limit is above 1500.
        assert_eq!(
            narrow(84, 9000, &[(1400, false), (1500, true), (1501, false)]),
            (1500, 1501)
        );
        assert_eq!(narrow(84, 9000, &[]), (84, 9000));
        assert_eq!(round_candidates(1500, 1501, None, true), Vec::<u32>::new());
    }
}
