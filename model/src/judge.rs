//! Judge once: the one verdict on a probed pair.
//!
//! [`judge`] turns what was expected of a pair (reachable or isolated) and what its probe
//! measured into a [`PairState`]. The check stores the state in each report pair
//! ([`crate::report::PairResult::state`]); the probe findings are derived from it, and every
//! renderer (text, JSON, JUnit, HTML, the agent's `probe` output) and the exit code only
//! render it. Nothing else decides whether a pair passed.

use serde::{Deserialize, Serialize};

use crate::plan::Expectation;
use crate::probe::{FailureCause, MtuResult, MtuVerdict, TargetResult};
use crate::report::Code;

/// The verdict on one probed pair, ordered from best to worst (the worst of several pairs
/// between two machines wins with `max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PairState {
    /// As expected: answered without loss (or, for an isolation probe, not answered).
    Ok,
    /// Planned, but no result arrived (the agent never reported it).
    Pending,
    /// The agent refused the plan item (invalid or pointless) and ran the rest: reported,
    /// but nothing was measured (`probe.not-run`).
    NotRun,
    /// Answered, but some requests were lost.
    Loss,
    /// Answered, small packets pass, full-size packets with DF do not.
    MtuBlackhole,
    /// Reachable expected, nothing answered.
    Unreachable,
    /// Isolation expected, but the target answered.
    IsolationBreach,
}

impl PairState {
    /// Every state, best first.
    pub const ALL: [PairState; 7] = [
        PairState::Ok,
        PairState::Pending,
        PairState::NotRun,
        PairState::Loss,
        PairState::MtuBlackhole,
        PairState::Unreachable,
        PairState::IsolationBreach,
    ];

    /// Whether the pair failed (a probe finding covers it). `Pending` is not a failure of
    /// the pair: the missing result is `agent.missing`'s.
    pub fn is_failure(self) -> bool {
        !matches!(self, PairState::Ok | PairState::Pending)
    }

    /// Whether the target answered an expected-reachable probe at all.
    pub fn answered(self) -> bool {
        matches!(
            self,
            PairState::Ok | PairState::Loss | PairState::MtuBlackhole
        )
    }

    /// The finding code that reports a pair in this state (`probe.unreachable` may become
    /// `probe.asymmetric` when the reverse direction answers); `None` when it passed.
    pub fn code(self) -> Option<Code> {
        match self {
            PairState::Ok | PairState::Pending => None,
            PairState::NotRun => Some(Code::ProbeNotRun),
            PairState::Loss => Some(Code::ProbePacketLoss),
            PairState::MtuBlackhole => Some(Code::ProbeMtuBlackhole),
            PairState::Unreachable => Some(Code::ProbeUnreachable),
            PairState::IsolationBreach => Some(Code::ProbeIsolationBreach),
        }
    }

    /// Stable name, as serialized (`mtu-blackhole`).
    pub fn as_str(self) -> &'static str {
        match self {
            PairState::Ok => "ok",
            PairState::Pending => "pending",
            PairState::NotRun => "not-run",
            PairState::Loss => "loss",
            PairState::MtuBlackhole => "mtu-blackhole",
            PairState::Unreachable => "unreachable",
            PairState::IsolationBreach => "isolation-breach",
        }
    }

    /// Short label for people: `as expected`, `packet loss`, `MTU blackhole`, ...
    pub fn label(self) -> &'static str {
        match self {
            PairState::Ok => "as expected",
            PairState::Pending => "no result",
            PairState::NotRun => "not run",
            PairState::Loss => "packet loss",
            PairState::MtuBlackhole => "MTU blackhole",
            PairState::Unreachable => "unreachable",
            PairState::IsolationBreach => "isolation breach",
        }
    }
}

impl std::fmt::Display for PairState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a probe measured on a pair: the parts of a result the verdict depends on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement<'a> {
    /// Echo requests sent.
    pub sent: u32,
    /// Echo replies received.
    pub received: u32,
    /// The MTU probe's result, when one ran.
    pub mtu: Option<&'a MtuResult>,
    /// The agent did not run the item ([`FailureCause::NotRun`]): nothing was measured.
    pub not_run: bool,
}

impl<'a> From<&'a TargetResult> for Measurement<'a> {
    fn from(t: &'a TargetResult) -> Measurement<'a> {
        Measurement {
            sent: t.sent,
            received: t.received,
            mtu: t.mtu.as_ref(),
            not_run: matches!(t.failure, Some(FailureCause::NotRun { .. })),
        }
    }
}

/// The verdict on a pair: `measurement` is `None` when no result arrived.
///
/// An item the agent did not run is `NotRun` whatever was expected. Isolated: any reply is a breach. Reachable: no reply is unreachable (a path that answers
/// nothing cannot show an MTU problem); else a full-size DF probe that vanished or needed
/// fragmentation while the small one passed is an MTU blackhole; else fewer replies than
/// requests is loss.
pub fn judge(expect: Expectation, measurement: Option<Measurement<'_>>) -> PairState {
    let Some(m) = measurement else {
        return PairState::Pending;
    };
    if m.not_run {
        return PairState::NotRun;
    }
    match expect {
        Expectation::Isolated if m.received > 0 => PairState::IsolationBreach,
        Expectation::Isolated => PairState::Ok,
        Expectation::Reachable if m.received == 0 => PairState::Unreachable,
        Expectation::Reachable => {
            let blackhole = m.mtu.is_some_and(|r| {
                r.small_ok
                    && matches!(
                        r.verdict,
                        MtuVerdict::Blackhole | MtuVerdict::FragmentationNeeded
                    )
            });
            if blackhole {
                PairState::MtuBlackhole
            } else if m.received < m.sent {
                PairState::Loss
            } else {
                PairState::Ok
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mtu(small_ok: bool, verdict: MtuVerdict) -> MtuResult {
        MtuResult {
            expected_mtu: 9000,
            small_ok,
            large_ok: verdict == MtuVerdict::Ok,
            largest_ok: None,
            verdict,
        }
    }

    fn m(sent: u32, received: u32, mtu: Option<&MtuResult>) -> Option<Measurement<'_>> {
        Some(Measurement {
            sent,
            received,
            mtu,
            not_run: false,
        })
    }

    #[test]
    fn every_verdict() {
        use Expectation::*;
        let ok = mtu(true, MtuVerdict::Ok);
        let hole = mtu(true, MtuVerdict::Blackhole);
        let frag = mtu(true, MtuVerdict::FragmentationNeeded);
        let unknown = mtu(false, MtuVerdict::Unknown);
        assert_eq!(judge(Reachable, None), PairState::Pending);
        assert_eq!(judge(Isolated, None), PairState::Pending);
        assert_eq!(judge(Reachable, m(3, 3, Some(&ok))), PairState::Ok);
        assert_eq!(judge(Reachable, m(3, 3, None)), PairState::Ok);
        assert_eq!(
            judge(Reachable, m(3, 0, Some(&hole))),
            PairState::Unreachable
        );
        assert_eq!(
            judge(Reachable, m(3, 3, Some(&hole))),
            PairState::MtuBlackhole
        );
        assert_eq!(
            judge(Reachable, m(3, 3, Some(&frag))),
            PairState::MtuBlackhole
        );
        assert_eq!(
            judge(Reachable, m(3, 2, Some(&hole))),
            PairState::MtuBlackhole
        );
        assert_eq!(judge(Reachable, m(10, 7, Some(&ok))), PairState::Loss);
        // The MTU probe's own small echo failed: nothing is known about the MTU.
        assert_eq!(judge(Reachable, m(3, 3, Some(&unknown))), PairState::Ok);
        let inconsistent = mtu(false, MtuVerdict::Blackhole);
        assert_eq!(
            judge(Reachable, m(3, 3, Some(&inconsistent))),
            PairState::Ok
        );
        assert_eq!(judge(Isolated, m(3, 0, None)), PairState::Ok);
        assert_eq!(judge(Isolated, m(3, 1, None)), PairState::IsolationBreach);
        // An item the agent refused measured nothing, whatever was expected of it.
        let refused = Some(Measurement {
            sent: 0,
            received: 0,
            mtu: None,
            not_run: true,
        });
        assert_eq!(judge(Reachable, refused), PairState::NotRun);
        assert_eq!(judge(Isolated, refused), PairState::NotRun);
    }

    #[test]
    fn states_serialize_by_name_and_order_worst_last() {
        for s in PairState::ALL {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
            assert_eq!(s.is_failure(), s.code().is_some());
        }
        assert!(PairState::ALL.windows(2).all(|w| w[0] < w[1]));
        assert!(serde_json::from_str::<PairState>("\"broken\"").is_err());
    }
}
