//! The per-space source × target grid shared by the text matrix and the HTML heatmap.

use std::collections::HashMap;

use preflight_model::plan::Expectation;
use preflight_model::probe::{FailureCause, MtuVerdict};
use preflight_model::report::{PairResult, SpaceReport};

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

/// Classifies one probed pair.
pub fn classify(pair: &PairResult) -> CellState {
    if !pair.done {
        return CellState::Pending;
    }
    match pair.expect {
        Expectation::Isolated => {
            if pair.received > 0 {
                CellState::Breach
            } else {
                CellState::Ok
            }
        }
        Expectation::Reachable => {
            if pair.received == 0 {
                // A path that refuses full-size packets but answers nothing at all is unreachable;
                // only an answered path can show an MTU problem.
                return CellState::Unreachable;
            }
            let mtu_bad =
                pair.mtu.is_some_and(|m| {
                    matches!(
                        m.verdict,
                        MtuVerdict::Blackhole | MtuVerdict::FragmentationNeeded
                    )
                }) || matches!(pair.failure, Some(FailureCause::FragmentationNeeded { .. }));
            if mtu_bad {
                CellState::Mtu
            } else if pair.loss_pct > 0.0 || pair.received < pair.sent {
                CellState::Loss
            } else {
                CellState::Ok
            }
        }
    }
}

/// The grid of one space: machines in order, and per (source row, target column) the pairs
/// and their worst state. Stored sparsely: a space of n machines has at most the probed pairs,
/// not n² cells (a sparse plan of thousands of machines stays small).
#[derive(Debug)]
pub struct Grid<'a> {
    /// Machines, rows and columns alike: the space's machines, then any other machine a pair names.
    pub machines: Vec<&'a str>,
    /// (row, col) → indices into the space's `pairs` for source row → target column.
    cells: HashMap<(usize, usize), Vec<usize>>,
    /// (row, col) → worst state of the cell's pairs.
    states: HashMap<(usize, usize), CellState>,
}

impl<'a> Grid<'a> {
    /// Builds the grid of a space.
    pub fn of(space: &'a SpaceReport) -> Grid<'a> {
        let mut machines: Vec<&'a str> = Vec::new();
        let mut index = HashMap::new();
        let names = space.machines.iter().map(String::as_str).chain(
            space
                .pairs
                .iter()
                .flat_map(|p| [p.source_machine.as_str(), p.target_machine.as_str()]),
        );
        for name in names {
            if !index.contains_key(name) {
                index.insert(name, machines.len());
                machines.push(name);
            }
        }
        let mut cells: HashMap<(usize, usize), Vec<usize>> = HashMap::new();
        let mut states: HashMap<(usize, usize), CellState> = HashMap::new();
        for (i, pair) in space.pairs.iter().enumerate() {
            // Both names were inserted above, so the lookups succeed; skip defensively anyway.
            let (Some(&r), Some(&c)) = (
                index.get(pair.source_machine.as_str()),
                index.get(pair.target_machine.as_str()),
            ) else {
                continue;
            };
            cells.entry((r, c)).or_default().push(i);
            let state = states.entry((r, c)).or_insert(CellState::NotProbed);
            *state = (*state).max(classify(pair));
        }
        Grid {
            machines,
            cells,
            states,
        }
    }

    /// Worst state of the pairs from machine `row` to machine `col`.
    pub fn state(&self, row: usize, col: usize) -> CellState {
        self.states
            .get(&(row, col))
            .copied()
            .unwrap_or(CellState::NotProbed)
    }

    /// Indices (into the space's `pairs`) of the pairs from machine `row` to machine `col`.
    pub fn pairs(&self, row: usize, col: usize) -> &[usize] {
        self.cells
            .get(&(row, col))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Per machine (in `machines` order): (problem pairs it is the source of, problem pairs it
    /// is the target of).
    pub fn problems_per_machine(&self, space: &SpaceReport) -> Vec<(usize, usize)> {
        let mut out = vec![(0, 0); self.machines.len()];
        for (&(r, c), indices) in &self.cells {
            let bad = indices
                .iter()
                .filter(|&&i| classify(&space.pairs[i]).is_problem())
                .count();
            out[r].0 += bad;
            out[c].1 += bad;
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
        out.push_str(", ");
        out.push_str(&describe_failure(failure));
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

/// Describes a failure cause in a few words.
pub fn describe_failure(cause: &FailureCause) -> String {
    match cause {
        FailureCause::Timeout => "timeout".to_string(),
        FailureCause::HostUnreachable => "host unreachable".to_string(),
        FailureCause::NetworkUnreachable => "network unreachable".to_string(),
        FailureCause::AdminProhibited => "administratively prohibited".to_string(),
        FailureCause::FragmentationNeeded { mtu: Some(m) } => {
            format!("fragmentation needed (next-hop MTU {m})")
        }
        FailureCause::FragmentationNeeded { mtu: None } => "fragmentation needed".to_string(),
        FailureCause::LocalError { message } => format!("local error: {message}"),
        FailureCause::Other { message } => message.clone(),
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
