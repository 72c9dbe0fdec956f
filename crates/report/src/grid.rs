//! The per-space source × target grid shared by the text matrix and the HTML heatmap.

use std::collections::HashMap;

use preflight_model::plan::Expectation;
use preflight_model::probe::MtuVerdict;
use preflight_model::report::{PairResult, PairState, SpaceReport};

/// What one probed pair (or the worst of several pairs between two machines) shows.
///
/// Ordered from best to worst, so the worst pair of a cell wins with `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CellState {
    /// No probe was planned between these machines (or it is the machine itself).
    NotProbed,
    /// As expected: answered without loss (or, for an isolation probe, blocked).
    Ok,
    /// Planned, but no result arrived.
    Pending,
    /// Answered, but some requests were lost.
    Loss,
    /// Small packets pass, full-size packets with DF do not.
    Mtu,
    /// No answer at all.
    Unreachable,
    /// An isolation probe was answered: the spaces are not isolated.
    Breach,
}

impl CellState {
    /// Single-character mark used by the text matrix.
    pub fn mark(self) -> char {
        match self {
            CellState::NotProbed => '·',
            CellState::Ok => '✓',
            CellState::Pending => '?',
            CellState::Loss => '~',
            CellState::Mtu => 'M',
            CellState::Unreachable => '✗',
            CellState::Breach => '!',
        }
    }

    /// Short CSS class / machine-readable name.
    pub fn class(self) -> &'static str {
        match self {
            CellState::NotProbed => "none",
            CellState::Ok => "ok",
            CellState::Pending => "pending",
            CellState::Loss => "loss",
            CellState::Mtu => "mtu",
            CellState::Unreachable => "fail",
            CellState::Breach => "breach",
        }
    }

    /// Short label: `as expected`, `packet loss`, `MTU blackhole`, ...
    pub fn label(self) -> &'static str {
        match self {
            CellState::Ok => "as expected",
            CellState::Loss => "packet loss",
            CellState::Mtu => "MTU blackhole",
            CellState::Unreachable => "unreachable",
            CellState::Breach => "isolation breach",
            CellState::Pending => "no result",
            CellState::NotProbed => "not probed",
        }
    }

    /// Human description, used in legends.
    pub fn describe(self) -> &'static str {
        match self {
            CellState::NotProbed => "not probed",
            CellState::Ok => "as expected (reachable; or blocked where isolation is required)",
            CellState::Pending => "no result arrived",
            CellState::Loss => "packet loss",
            CellState::Mtu => "MTU blackhole (small packets pass, full-size DF packets do not)",
            CellState::Unreachable => "unreachable",
            CellState::Breach => "isolation breach (answered where isolation is required)",
        }
    }

    /// Whether the state is a problem (anything but ok / not probed).
    pub fn is_problem(self) -> bool {
        !matches!(self, CellState::NotProbed | CellState::Ok)
    }

    /// Every state, best first (for legends).
    pub const ALL: [CellState; 7] = [
        CellState::Ok,
        CellState::Loss,
        CellState::Mtu,
        CellState::Unreachable,
        CellState::Breach,
        CellState::Pending,
        CellState::NotProbed,
    ];
}

/// The cell state of one probed pair: its judged [`PairState`], rendered.
pub fn classify(pair: &PairResult) -> CellState {
    CellState::from(pair.state)
}

impl From<PairState> for CellState {
    fn from(s: PairState) -> CellState {
        match s {
            PairState::Ok => CellState::Ok,
            // Nothing was measured either way (the finding says why it was not run).
            PairState::Pending | PairState::NotRun => CellState::Pending,
            PairState::Loss => CellState::Loss,
            PairState::MtuBlackhole => CellState::Mtu,
            PairState::Unreachable => CellState::Unreachable,
            PairState::IsolationBreach => CellState::Breach,
        }
    }
}

/// The grid of one space: machines in order, and per (source row, target column) the pairs
/// and their worst state. Stored sparsely as sorted vectors: a space of n machines costs
/// memory for its probed pairs, not for n² cells (a sparse plan of thousands of machines
/// stays small), and building it is one sort.
#[derive(Debug)]
pub struct Grid<'a> {
    /// Machines, rows and columns alike: the space's machines, then any other machine a pair names.
    pub machines: Vec<&'a str>,
    /// Pair indices (into the space's `pairs`), sorted by (row, col).
    order: Vec<usize>,
    /// One entry per non-empty cell, sorted: (row, col), range into `order`, worst state.
    cells: Vec<((usize, usize), std::ops::Range<usize>, CellState)>,
}

impl<'a> Grid<'a> {
    /// Builds the grid of a space.
    pub fn of(space: &'a SpaceReport) -> Grid<'a> {
        let mut machines: Vec<&'a str> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        let names = space.machines.iter().map(String::as_str).chain(
            space
                .pairs
                .iter()
                .flat_map(|p| [p.source_machine.as_str(), p.target_machine.as_str()]),
        );
        for name in names {
            index.entry(name).or_insert_with(|| {
                machines.push(name);
                machines.len() - 1
            });
        }
        // (row, col, pair index), sorted; every name was inserted above.
        let mut keyed: Vec<(usize, usize, usize)> = space
            .pairs
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                Some((
                    *index.get(p.source_machine.as_str())?,
                    *index.get(p.target_machine.as_str())?,
                    i,
                ))
            })
            .collect();
        keyed.sort_unstable();
        let order: Vec<usize> = keyed.iter().map(|&(_, _, i)| i).collect();
        let mut cells: Vec<((usize, usize), std::ops::Range<usize>, CellState)> = Vec::new();
        for (pos, &(r, c, i)) in keyed.iter().enumerate() {
            let state = classify(&space.pairs[i]);
            match cells.last_mut() {
                Some((key, range, worst)) if *key == (r, c) => {
                    range.end = pos + 1;
                    *worst = (*worst).max(state);
                }
                _ => cells.push(((r, c), pos..pos + 1, state)),
            }
        }
        Grid {
            machines,
            order,
            cells,
        }
    }

    fn cell(
        &self,
        row: usize,
        col: usize,
    ) -> Option<&((usize, usize), std::ops::Range<usize>, CellState)> {
        self.cells
            .binary_search_by_key(&(row, col), |(key, _, _)| *key)
            .ok()
            .map(|i| &self.cells[i])
    }

    /// Worst state of the pairs from machine `row` to machine `col`.
    pub fn state(&self, row: usize, col: usize) -> CellState {
        self.cell(row, col)
            .map(|(_, _, s)| *s)
            .unwrap_or(CellState::NotProbed)
    }

    /// Indices (into the space's `pairs`) of the pairs from machine `row` to machine `col`.
    pub fn pairs(&self, row: usize, col: usize) -> &[usize] {
        self.cell(row, col)
            .map(|(_, range, _)| &self.order[range.clone()])
            .unwrap_or(&[])
    }

    /// Per machine (in `machines` order): (problem pairs it is the source of, problem pairs it
    /// is the target of).
    pub fn problems_per_machine(&self, space: &SpaceReport) -> Vec<(usize, usize)> {
        let mut out = vec![(0, 0); self.machines.len()];
        for ((r, c), range, _) in &self.cells {
            let bad = self.order[range.clone()]
                .iter()
                .filter(|&&i| classify(&space.pairs[i]).is_problem())
                .count();
            out[*r].0 += bad;
            out[*c].1 += bad;
        }
        out
    }

    /// How many pairs of the space are in each state, in [`CellState::ALL`] order (pairs, not cells).
    pub fn pair_counts(space: &SpaceReport) -> Vec<(CellState, usize)> {
        let mut counts: Vec<(CellState, usize)> = CellState::ALL
            .iter()
            .filter(|s| **s != CellState::NotProbed)
            .map(|s| (*s, 0))
            .collect();
        for pair in &space.pairs {
            let state = classify(pair);
            if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == state) {
                slot.1 += 1;
            }
        }
        counts
    }
}

/// One-line description of a pair's measurements: loss, RTT, MTU, failure.
pub fn pair_detail(pair: &PairResult) -> String {
    let mut out = String::new();
    write_pair_detail(&mut out, pair);
    out
}

/// Appends [`pair_detail`] to `out` (no allocation beyond `out`'s growth).
pub fn write_pair_detail(out: &mut String, pair: &PairResult) {
    use std::fmt::Write as _;
    let start = out.len();
    let sep = |out: &mut String| {
        if out.len() > start {
            out.push_str(", ");
        }
    };
    if pair.expect == Expectation::Isolated {
        out.push_str("isolation probe");
    }
    if !pair.done {
        return;
    }
    sep(out);
    let _ = write!(out, "{}/{} replies, ", pair.received, pair.sent);
    push_num(out, pair.loss_pct);
    out.push_str("% loss");
    if let Some(rtt) = &pair.rtt {
        out.push_str(", rtt min/avg/max ");
        push_num(out, rtt.min_ms);
        out.push('/');
        push_num(out, rtt.avg_ms);
        out.push('/');
        push_num(out, rtt.max_ms);
        out.push_str(" ms");
    }
    // An MTU verdict of "unknown" on a path that answered nothing adds nothing.
    if let Some(mtu) = pair
        .mtu
        .as_ref()
        .filter(|m| !(m.verdict == MtuVerdict::Unknown && pair.received == 0))
    {
        let verdict = match mtu.verdict {
            MtuVerdict::Ok => "ok",
            MtuVerdict::Blackhole => "blackhole",
            MtuVerdict::FragmentationNeeded => "fragmentation needed",
            MtuVerdict::Unknown => "unknown",
        };
        let _ = write!(out, ", MTU {} {verdict}", mtu.expected_mtu);
        if let Some(largest) = mtu.largest_ok {
            let _ = write!(out, " (largest passing {largest})");
        }
    }
    if let Some(failure) = &pair.failure {
        let _ = write!(out, ", {failure}");
    }
    for tcp in &pair.tcp {
        use preflight_model::probe::TcpOutcome;
        let _ = write!(out, ", tcp/{} ", tcp.port);
        match &tcp.outcome {
            TcpOutcome::Open { connect_ms } => {
                out.push_str("open ");
                push_num(out, *connect_ms);
                out.push_str(" ms");
            }
            TcpOutcome::Refused => out.push_str("refused"),
            TcpOutcome::Timeout => out.push_str("timeout"),
            TcpOutcome::Unreachable { message } => {
                out.push_str("unreachable: ");
                out.push_str(message);
            }
        }
    }
}

/// Formats a float with at most 2 decimals and no trailing zeros (`12`, `0.5`, `33.33`).
pub fn fmt_num(v: f64) -> String {
    let mut s = String::new();
    push_num(&mut s, v);
    s
}

/// Appends [`fmt_num`]'s form of `v` to `out`.
pub fn push_num(out: &mut String, v: f64) {
    use std::fmt::Write as _;
    if !v.is_finite() {
        out.push('?');
        return;
    }
    let start = out.len();
    let _ = write!(out, "{v:.2}");
    let trimmed = out[start..]
        .trim_end_matches('0')
        .trim_end_matches('.')
        .len();
    out.truncate(start + trimmed);
    if &out[start..] == "-0" {
        out.truncate(start);
        out.push('0');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_model::probe::{FailureCause, MtuResult};

    fn pair() -> PairResult {
        PairResult {
            id: "p".into(),
            source_machine: "a".into(),
            target_machine: "b".into(),
            source: "10.0.0.1".parse().unwrap(),
            target: "10.0.0.2".parse().unwrap(),
            expect: Expectation::Reachable,
            done: true,
            sent: 5,
            received: 5,
            loss_pct: 0.0,
            rtt: None,
            failure: None,
            mtu: None,
            tcp: vec![],
            state: PairState::Ok,
        }
    }

    fn mtu(verdict: MtuVerdict) -> Option<MtuResult> {
        Some(MtuResult {
            expected_mtu: 9000,
            small_ok: true,
            large_ok: verdict == MtuVerdict::Ok,
            largest_ok: None,
            verdict,
        })
    }

    /// The pair with its state judged from its measurement, as the check stores it.
    fn j(p: PairResult) -> PairResult {
        PairResult {
            state: p.judged(),
            ..p
        }
    }

    #[test]
    fn cells_render_the_judged_state_only() {
        for s in PairState::ALL {
            assert_eq!(
                classify(&PairResult { state: s, ..pair() }),
                CellState::from(s)
            );
        }
        // The stored verdict is what is shown, whatever the numbers look like.
        let p = PairResult {
            received: 0,
            state: PairState::Ok,
            ..pair()
        };
        assert_eq!(classify(&p), CellState::Ok);
        // The grid used to call a pair with a fragmentation-needed cause but no MTU result an
        // MTU blackhole while no finding did; the judge (and so the grid) does not.
        let p = j(PairResult {
            failure: Some(FailureCause::FragmentationNeeded { mtu: Some(1500) }),
            ..pair()
        });
        assert_eq!(classify(&p), CellState::Ok);
        // ... nor an MTU verdict whose small probe failed.
        let p = j(PairResult {
            mtu: mtu(MtuVerdict::Blackhole).map(|m| MtuResult {
                small_ok: false,
                ..m
            }),
            ..pair()
        });
        assert_eq!(classify(&p), CellState::Ok);
        let p = j(PairResult {
            mtu: mtu(MtuVerdict::Blackhole),
            received: 3,
            loss_pct: 40.0,
            ..pair()
        });
        assert_eq!(classify(&p), CellState::Mtu);
    }

    #[test]
    fn worst_pair_wins_a_cell() {
        let space = SpaceReport {
            name: "s".into(),
            id: None,
            subnets: vec![],
            machines: vec!["a".into(), "b".into()],
            pairs: vec![
                pair(),
                j(PairResult {
                    received: 0,
                    ..pair()
                }),
                j(PairResult {
                    received: 4,
                    ..pair()
                }),
                PairResult {
                    source_machine: "b".into(),
                    target_machine: "c".into(),
                    ..pair()
                },
            ],
        };
        let g = Grid::of(&space);
        assert_eq!(g.machines, ["a", "b", "c"]);
        assert_eq!(g.state(0, 1), CellState::Unreachable);
        assert_eq!(g.pairs(0, 1), [0, 1, 2]);
        assert_eq!(g.state(1, 0), CellState::NotProbed);
        assert_eq!(g.pairs(1, 0), [] as [usize; 0]);
        assert_eq!(g.state(1, 2), CellState::Ok);
        assert_eq!(g.problems_per_machine(&space), [(2, 0), (0, 2), (0, 0)]);
    }

    #[test]
    fn numbers_and_details_read_well() {
        assert_eq!(fmt_num(12.0), "12");
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(33.3333), "33.33");
        assert_eq!(fmt_num(100.0), "100");
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(-0.001), "0");
        assert_eq!(fmt_num(f64::NAN), "?");
        let p = PairResult {
            received: 3,
            loss_pct: 40.0,
            mtu: mtu(MtuVerdict::Blackhole).map(|m| MtuResult {
                largest_ok: Some(1500),
                ..m
            }),
            ..pair()
        };
        assert_eq!(
            pair_detail(&p),
            "3/5 replies, 40% loss, MTU 9000 blackhole (largest passing 1500)"
        );
        let p = PairResult {
            done: false,
            ..pair()
        };
        assert_eq!(pair_detail(&p), "");
        let p = PairResult {
            done: false,
            expect: Expectation::Isolated,
            ..pair()
        };
        assert_eq!(pair_detail(&p), "isolation probe");
    }
}
