//! The HTML rendering: one self-contained page (inline CSS, no scripts, no external assets)
//! with a summary banner, a heatmap per space and the findings table; responsive for phones.

use std::fmt::Write as _;

use preflight_model::report::{Finding, Report, ReportKind, Severity, SpaceReport, Status};

use crate::grid::{classify, pair_detail, write_pair_detail, CellState, Grid};
use crate::subject::{application_groups, count, describe, severity_label, tally};

/// How many problem pairs a space lists before summarising the rest.
const MAX_PROBLEMS_LISTED: usize = 200;

/// Spaces with more machines than this get the compact heatmap.
const DENSE_FROM: usize = 24;

/// Largest space (in machines) drawn as a heatmap; above it, a per-machine summary.
pub const HEATMAP_MAX: usize = 200;

/// Escapes text for HTML content and attribute values. Control characters other than tab and
/// newline (which browsers would mangle or refuse) become U+FFFD; newline becomes `&#10;` so
/// it survives in `title` attributes as a line break.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_html(&mut out, s);
    out
}

/// Appends `s` to `out`, HTML-escaped as [`html_escape`] does; runs of plain text are copied
/// whole.
pub(crate) fn push_html(out: &mut String, s: &str) {
    let mut plain = 0;
    for (i, c) in s.char_indices() {
        let rep = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&#39;",
            '\n' => "&#10;",
            '\t' => " ",
            c if c.is_control() => "\u{FFFD}",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        out.push_str(rep);
        plain = i + c.len_utf8();
    }
    out.push_str(&s[plain..]);
}

const CSS: &str = r#"
:root{--bg:#fff;--fg:#1d1f21;--muted:#666;--line:#ddd;--card:#f6f7f8;
--ok:#2e9e44;--loss:#e7b416;--mtu:#f07f1a;--fail:#d93025;--breach:#8e24aa;--pending:#b0b4b8;--none:#f1f1f1}
@media (prefers-color-scheme:dark){:root{--bg:#15171a;--fg:#e6e6e6;--muted:#9aa0a6;--line:#33373c;--card:#1f2226;--none:#24272b}}
*{box-sizing:border-box}
a{color:#1a5fb4}
@media (prefers-color-scheme:dark){a{color:#8ab4f8}}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
main{max-width:1100px;margin:0 auto;padding:0 12px 32px}
.banner{padding:16px 0;color:#fff}
.banner.pass{background:var(--ok)}.banner.fail{background:var(--fail)}
.banner .in{max-width:1100px;margin:0 auto;padding:0 12px}
.banner h1{margin:0;font-size:1.6em;letter-spacing:.02em}
.banner p{margin:4px 0 0}
.banner .meta{opacity:.9;font-size:.85em;word-break:break-word}
h2{font-size:1.25em;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:1em;margin:16px 0 6px}
.chips{display:flex;flex-wrap:wrap;gap:6px;margin:8px 0}
.chip{border-radius:999px;padding:2px 10px;background:var(--card);border:1px solid var(--line);font-size:.85em;white-space:nowrap}
.sw{display:inline-block;width:.9em;height:.9em;border-radius:3px;vertical-align:-.1em;margin-right:4px}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%;border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse}
table.grid{width:100%}
table.grid td,table.grid th{padding:6px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
table.heat{border-collapse:separate;border-spacing:2px;margin:4px}
table.heat th{font-weight:normal;font-size:.8em;color:var(--muted);padding:0 4px;white-space:nowrap}
table.heat th.row{position:sticky;left:0;background:var(--bg);text-align:right;max-width:14em;overflow:hidden;text-overflow:ellipsis;z-index:1}
table.heat td{width:1.9em;min-width:1.9em;height:1.9em;text-align:center;border-radius:4px;font-size:.85em;color:#fff;font-weight:600;cursor:default}
table.heat.dense td{width:13px;min-width:13px;height:13px;font-size:9px;line-height:1;padding:0;border-radius:2px}
table.heat.dense{border-spacing:1px}
table.heat.dense th{font-size:9px;line-height:1;padding:0;overflow:visible}
table.heat.dense th.row{font-size:10px}
td.ok,.sw.ok{background:var(--ok)}td.loss,.sw.loss{background:var(--loss);color:#222}td.mtu,.sw.mtu{background:var(--mtu)}
td.fail,.sw.fail{background:var(--fail)}td.breach,.sw.breach{background:var(--breach)}
td.pending,.sw.pending{background:var(--pending);color:#222}td.none,.sw.none{background:var(--none);color:var(--muted);font-weight:normal}
.n{color:var(--muted);font-variant-numeric:tabular-nums;margin-right:4px}
.sev{display:inline-block;border-radius:4px;padding:0 6px;font-size:.8em;font-weight:600;color:#fff}
.sev.error{background:var(--fail)}.sev.warning{background:var(--loss);color:#222}.sev.info{background:var(--pending);color:#222}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;word-break:break-all}
.hint{color:var(--muted);margin-top:2px}
.muted{color:var(--muted)}
ul.problems{margin:6px 0;padding-left:1.2em}ul.problems li{margin:2px 0;word-break:break-word}
details{margin:8px 0}summary{cursor:pointer;font-weight:600}
.verdict{font-weight:700}.verdict.fail{color:var(--fail)}.verdict.warn{color:var(--mtu)}.verdict.pass{color:var(--ok)}
footer{color:var(--muted);font-size:.8em;margin-top:32px}
ol.causes{padding-left:1.4em}ol.causes>li{margin:8px 0;word-break:break-word}.fix{font-weight:600;margin-top:2px}
table.heat td.cu{box-shadow:inset 0 0 0 2px var(--fg)}table.heat th.culprit{font-weight:700;color:var(--fail)}
@media (max-width:640px){
 body{font-size:14px}
 table.findings thead{display:none}
 table.findings tr{display:block;border-bottom:1px solid var(--line);padding:6px 0}
 table.findings td{display:block;border:0;padding:2px 4px}
 table.findings td:nth-child(1),table.findings td:nth-child(2){display:inline-block}
 table.findings td:nth-child(3){color:var(--muted)}
 table.heat td{width:1.6em;min-width:1.6em;height:1.6em}
 table.heat th.row{max-width:8em}
}
"#;

/// Renders the report as a self-contained HTML page.
pub(crate) fn render(report: &Report) -> String {
    let mut page = String::new();
    let _ = render_in_chunks(report, &mut |chunk: &mut String| {
        page.push_str(chunk);
        chunk.clear();
        Ok(())
    });
    page
}

/// Writes the page to `w` a space section at a time, so no copy of the whole page is held.
pub(crate) fn write(
    report: &Report,
    w: &mut (impl std::io::Write + ?Sized),
) -> std::io::Result<()> {
    render_in_chunks(report, &mut |chunk: &mut String| {
        w.write_all(chunk.as_bytes())?;
        chunk.clear();
        Ok(())
    })
}

/// Renders the page, handing each finished part (head, each space, the rest) to `flush`,
/// which empties it.
fn render_in_chunks(
    report: &Report,
    flush: &mut dyn FnMut(&mut String) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut out = String::new();
    let kind = match report.kind {
        ReportKind::Validate => "validate",
        ReportKind::Check => "check",
    };
    let s = &report.summary;
    let (status, class) = match s.status {
        Status::Pass => ("PASS", "pass"),
        Status::Fail => ("FAIL", "fail"),
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>preflight {kind}: {status}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
    );
    // Banner.
    let mut counts = vec![
        count(s.errors, "error"),
        count(s.warnings, "warning"),
        format!("{} info", s.infos),
    ];
    match (s.agents_reported, s.agents_expected) {
        (Some(r), Some(e)) => counts.push(format!("{r} of {e} agents reported")),
        (Some(r), None) => counts.push(format!("{r} agents reported")),
        _ => {}
    }
    match (s.probes_done, s.probes_planned) {
        (Some(d), Some(p)) => counts.push(format!("{d} of {p} probes done")),
        (Some(d), None) => counts.push(format!("{d} probes done")),
        _ => {}
    }
    let _ = write!(
        out,
        "<header class=\"banner {class}\"><div class=\"in\"><h1>{status}</h1><p>{}</p>\
         <p class=\"meta\">preflight {kind} report · generated {} · preflight {}{}</p></div></header>\n<main>\n",
        html_escape(&counts.join(" · ")),
        html_escape(&report.generated_at),
        html_escape(&report.tool_version),
        if report.inputs.is_empty() {
            String::new()
        } else {
            format!(" · inputs: {}", html_escape(&report.inputs.join(", ")))
        }
    );

    match report.kind {
        ReportKind::Check => {
            diagnosis(report, &mut out);
            out.push_str("<h2>Spaces</h2>\n");
            let grids: Vec<Grid> = report.spaces.iter().map(Grid::of).collect();
            if report.spaces.is_empty() {
                out.push_str("<p class=\"muted\">No spaces were probed.</p>\n");
            } else {
                spaces_overview(report, &grids, &mut out);
                legend(&mut out);
            }
            crate::pairs::html(report, &mut out);
            flush(&mut out)?;
            // Problem spaces first; anchors keep the report's order.
            let order = crate::causes::spaces_problem_first(report);
            for space in order {
                let i = report
                    .spaces
                    .iter()
                    .position(|s| std::ptr::eq(s, space))
                    .unwrap_or(0);
                let culprits = crate::causes::culprit_machines(report, &space.name);
                render_space(i, space, &grids[i], &culprits, &mut out);
                flush(&mut out)?;
            }
            out.push_str("<h2 id=\"findings\">Findings</h2>\n");
            // Causes are above; the per-pair and drift findings are their evidence.
            findings_table(
                &report
                    .findings
                    .iter()
                    .filter(|f| !crate::causes::is_cause_code(&f.code))
                    .collect::<Vec<_>>(),
                &mut out,
            );
        }
        ReportKind::Validate => render_validate(report, &mut out),
    }
    let _ = write!(
        out,
        "<footer>{} · schema {}</footer>\n</main>\n</body>\n</html>\n",
        html_escape(&format!("preflight {}", report.tool_version)),
        html_escape(&report.schema)
    );
    flush(&mut out)
}

fn legend(out: &mut String) {
    out.push_str("<div class=\"chips\" aria-label=\"legend\">");
    for state in CellState::ALL {
        let _ = write!(
            out,
            "<span class=\"chip\" title=\"{}\"><span class=\"sw {}\"></span>{} {}</span>",
            html_escape(state.describe()),
            state.class(),
            state.mark(),
            state.label()
        );
    }
    out.push_str("</div>\n<p class=\"muted\">Rows are sources, columns targets; hover or long-press a cell for loss, RTT and MTU.</p>\n");
}

/// One row per space: machines, pairs, problem pairs, linking to the space's section.
fn spaces_overview(report: &Report, grids: &[Grid], out: &mut String) {
    out.push_str("<div class=\"scroll\"><table class=\"grid\"><thead><tr><th>Space</th><th>Machines</th><th>Pairs</th><th>Problems</th></tr></thead><tbody>\n");
    for (i, (space, grid)) in report.spaces.iter().zip(grids).enumerate() {
        let problems = space
            .pairs
            .iter()
            .filter(|p| classify(p).is_problem())
            .count();
        let class = if problems == 0 { "pass" } else { "fail" };
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#space-{i}\">{}</a></td><td>{}</td><td>{}</td><td><span class=\"verdict {class}\">{problems}</span></td></tr>",
            html_escape(&space.name),
            grid.machines.len(),
            space.pairs.len()
        );
    }
    out.push_str("</tbody></table></div>\n");
}

/// The diagnosis section: the headline, then each cause with its fix, evidence and pairs.
fn diagnosis(report: &Report, out: &mut String) {
    let Some(d) = &report.diagnosis else { return };
    let Some(headline) = crate::causes::headline(d) else {
        return;
    };
    let _ = writeln!(
        out,
        "<h2 id=\"diagnosis\">{}</h2>\n<ol class=\"causes\">",
        html_escape(&headline)
    );
    for c in &d.causes {
        let _ = write!(
            out,
            "<li><span class=\"sev error\">{}</span> <b>{}</b><div>{}</div><div class=\"fix\">fix: {}</div>",
            html_escape(c.code.as_str()),
            html_escape(&describe(&c.subject)),
            html_escape(&c.message),
            html_escape(&c.fix)
        );
        if !c.indistinguishable.is_empty() {
            let _ = write!(
                out,
                "<div class=\"hint\">cannot be told apart from: {}</div>",
                html_escape(&c.indistinguishable.join("; "))
            );
        }
        let _ = write!(
            out,
            "<details><summary>evidence and the {} it explains</summary><ul>",
            count(c.pairs.len(), "failing pair")
        );
        for e in &c.evidence {
            let _ = write!(out, "<li>{}</li>", html_escape(e));
        }
        let shown: Vec<&str> = c
            .pairs
            .iter()
            .take(MAX_PROBLEMS_LISTED)
            .map(String::as_str)
            .collect();
        let _ = writeln!(
            out,
            "<li>pairs: <code>{}</code>{}</li></ul></details></li>",
            html_escape(&shown.join(" ")),
            if c.pairs.len() > shown.len() {
                format!(" … and {} more", c.pairs.len() - shown.len())
            } else {
                String::new()
            }
        );
    }
    out.push_str("</ol>\n");
    if d.explained_pairs < d.failing_pairs {
        let _ = writeln!(
            out,
            "<p class=\"muted\">{} unexplained.</p>",
            count(d.failing_pairs - d.explained_pairs, "failing pair")
        );
    }
}

fn render_space(
    index: usize,
    space: &SpaceReport,
    grid: &Grid,
    culprits: &[String],
    out: &mut String,
) {
    let id = space
        .id
        .map(|i| format!(" <span class=\"muted\">(id {i})</span>"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "<section class=\"space\" id=\"space-{index}\">\n<h2>Space {}{id}</h2>",
        html_escape(&space.name)
    );
    // Pair counts.
    out.push_str("<div class=\"chips\">");
    let _ = write!(
        out,
        "<span class=\"chip\">{}</span>",
        count(space.pairs.len(), "pair")
    );
    for (state, n) in Grid::pair_counts(space) {
        if n > 0 {
            let _ = write!(
                out,
                "<span class=\"chip\"><span class=\"sw {}\"></span>{n} {}</span>",
                state.class(),
                state.label()
            );
        }
    }
    out.push_str("</div>\n");
    // Subnets.
    if space.subnets.is_empty() {
        out.push_str("<p class=\"muted\">No subnets.</p>\n");
    } else {
        out.push_str("<div class=\"scroll\"><table class=\"grid\"><thead><tr><th>Subnet</th><th>Fabric</th><th>VLAN</th><th>MTU</th></tr></thead><tbody>\n");
        for s in &space.subnets {
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                html_escape(&s.cidr),
                html_escape(s.fabric.as_deref().unwrap_or("-")),
                s.vid.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
                s.mtu.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
            );
        }
        out.push_str("</tbody></table></div>\n");
    }
    // Heatmap.
    let n = grid.machines.len();
    if n == 0 {
        out.push_str("<p class=\"muted\">No machines.</p>\n</section>\n");
        return;
    }
    if n > HEATMAP_MAX {
        machine_summary(space, grid, out);
    } else {
        heatmap(space, grid, culprits, out);
    }
    // Problems, readable without hovering (phones).
    let problems: Vec<_> = space
        .pairs
        .iter()
        .map(|p| (p, classify(p)))
        .filter(|(_, s)| s.is_problem())
        .collect();
    if !problems.is_empty() {
        let _ = writeln!(
            out,
            "<details open><summary>Problem pairs ({})</summary><ul class=\"problems\">",
            problems.len()
        );
        for (p, state) in problems.iter().take(MAX_PROBLEMS_LISTED) {
            let detail = pair_detail(p);
            let _ = writeln!(
                out,
                "<li><span class=\"sw {}\"></span><b>{}</b> <code>{}</code> → <b>{}</b> <code>{}</code>: {}{}</li>",
                state.class(),
                html_escape(&p.source_machine),
                p.source,
                html_escape(&p.target_machine),
                p.target,
                state.label(),
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", html_escape(&detail))
                }
            );
        }
        if problems.len() > MAX_PROBLEMS_LISTED {
            let _ = writeln!(
                out,
                "<li class=\"muted\">… and {} more (see the JSON report)</li>",
                problems.len() - MAX_PROBLEMS_LISTED
            );
        }
        out.push_str("</ul></details>\n");
    }
    out.push_str("</section>\n");
}

/// The source × target heatmap of a space.
fn heatmap(space: &SpaceReport, grid: &Grid, culprits: &[String], out: &mut String) {
    // A cause's machine: its row and column are outlined.
    let culprit: Vec<bool> = grid
        .machines
        .iter()
        .map(|m| culprits.iter().any(|c| c == m))
        .collect();
    // Past a couple of dozen machines the cells shrink so more of the grid fits a screen.
    let dense = if grid.machines.len() > DENSE_FROM {
        " dense"
    } else {
        ""
    };
    let _ = write!(
        out,
        "<h3>Connectivity</h3>\n<div class=\"scroll\"><table class=\"heat{dense}\"><thead><tr><th class=\"row\"></th>"
    );
    for (c, m) in grid.machines.iter().enumerate() {
        // Dense grids number every fifth column only (the number would widen the column);
        // every header still names its machine on hover.
        let label = if dense.is_empty() || c == 0 || (c + 1) % 5 == 0 {
            (c + 1).to_string()
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<th{} title=\"{} {}\">{label}</th>",
            if culprit[c] { " class=\"culprit\"" } else { "" },
            c + 1,
            html_escape(m)
        );
    }
    out.push_str("</tr></thead><tbody>\n");
    let escaped: Vec<String> = grid.machines.iter().map(|m| html_escape(m)).collect();
    let mut scratch = String::new();
    for r in 0..escaped.len() {
        let _ = write!(
            out,
            "<tr><th class=\"row{2}\" title=\"{0}\"><span class=\"n\">{1}</span>{0}</th>",
            escaped[r],
            r + 1,
            if culprit[r] { " culprit" } else { "" }
        );
        let src = escaped[r].as_str();
        for (c, dst) in escaped.iter().enumerate() {
            // Written straight into `out` (the title is the bulk of a large page).
            let state = grid.state(r, c);
            let _ = write!(
                out,
                "<td class=\"{}{}\" title=\"{src} → {dst}: {}",
                state.class(),
                if culprit[r] || culprit[c] { " cu" } else { "" },
                state.describe()
            );
            for &i in grid.pairs(r, c) {
                let p = &space.pairs[i];
                scratch.clear();
                write_pair_detail(&mut scratch, p);
                if scratch.is_empty() {
                    scratch.push_str("no result");
                }
                let _ = write!(out, "&#10;{} → {}: ", p.source, p.target);
                push_html(out, &scratch);
            }
            let _ = write!(out, "\">{}</td>", state.mark());
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
}

/// Instead of a heatmap too large to read: the machines with the most problem pairs.
fn machine_summary(space: &SpaceReport, grid: &Grid, out: &mut String) {
    let per = grid.problems_per_machine(space);
    let mut bad: Vec<(usize, usize, usize)> = per
        .iter()
        .enumerate()
        .filter(|(_, (o, i))| o + i > 0)
        .map(|(m, (o, i))| (m, *o, *i))
        .collect();
    bad.sort_by_key(|&(m, o, i)| (std::cmp::Reverse(o + i), m));
    let _ = writeln!(
        out,
        "<h3>Connectivity</h3>\n<p class=\"muted\">{} machines: heatmap omitted (over {HEATMAP_MAX}); {} with problem pairs.</p>",
        grid.machines.len(),
        bad.len()
    );
    if bad.is_empty() {
        return;
    }
    out.push_str("<div class=\"scroll\"><table class=\"grid\"><thead><tr><th>Machine</th><th>Problems as source</th><th>Problems as target</th></tr></thead><tbody>\n");
    for &(m, o, i) in bad.iter().take(MAX_PROBLEMS_LISTED) {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{o}</td><td>{i}</td></tr>",
            html_escape(grid.machines[m])
        );
    }
    if bad.len() > MAX_PROBLEMS_LISTED {
        let _ = writeln!(
            out,
            "<tr><td colspan=\"3\" class=\"muted\">… and {} more machines</td></tr>",
            bad.len() - MAX_PROBLEMS_LISTED
        );
    }
    out.push_str("</tbody></table></div>\n");
}

fn findings_table(findings: &[&Finding], out: &mut String) {
    if findings.is_empty() {
        out.push_str("<p class=\"muted\">No findings.</p>\n");
        return;
    }
    out.push_str("<div class=\"scroll\"><table class=\"grid findings\"><thead><tr><th>Severity</th><th>Code</th><th>Subject</th><th>Message</th></tr></thead><tbody>\n");
    let mut sorted: Vec<&Finding> = findings.to_vec();
    sorted.sort_by_key(|f| f.severity);
    for f in sorted {
        let sev = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        let hint = f
            .hint
            .as_deref()
            .map(|h| format!("<div class=\"hint\">hint: {}</div>", html_escape(h)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td><span class=\"sev {sev}\">{}</span></td><td><code>{}</code></td><td>{}</td><td>{}{hint}</td></tr>",
            severity_label(f.severity),
            html_escape(f.code.as_str()),
            html_escape(&describe(&f.subject)),
            html_escape(&f.message)
        );
    }
    out.push_str("</tbody></table></div>\n");
}

fn render_validate(report: &Report, out: &mut String) {
    let groups = application_groups(report);
    out.push_str("<h2>Applications</h2>\n");
    if groups.is_empty() {
        out.push_str("<p class=\"muted\">No applications checked and no findings.</p>\n");
        return;
    }
    out.push_str("<div class=\"scroll\"><table class=\"grid\"><thead><tr><th>Application</th><th>Verdict</th><th>Errors</th><th>Warnings</th><th>Info</th></tr></thead><tbody>\n");
    let mut sections = Vec::new();
    for (i, group) in groups.iter().enumerate() {
        let findings: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.subject.application.as_ref() == group.as_ref())
            .collect();
        let (e, w, inf) = tally(findings.iter().copied());
        let (verdict, class) = if e > 0 {
            ("FAIL", "fail")
        } else if w > 0 {
            ("WARN", "warn")
        } else {
            ("PASS", "pass")
        };
        let label = group.as_deref().unwrap_or("model-wide");
        let name = if findings.is_empty() {
            html_escape(label)
        } else {
            format!("<a href=\"#app-{i}\">{}</a>", html_escape(label))
        };
        let _ = writeln!(
            out,
            "<tr><td>{name}</td><td><span class=\"verdict {class}\">{verdict}</span></td><td>{e}</td><td>{w}</td><td>{inf}</td></tr>"
        );
        if !findings.is_empty() {
            sections.push((i, label, findings));
        }
    }
    out.push_str("</tbody></table></div>\n");
    for (i, label, findings) in sections {
        let _ = writeln!(out, "<h2 id=\"app-{i}\">{}</h2>", html_escape(label));
        findings_table(&findings, out);
    }
}
