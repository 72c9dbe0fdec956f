//! The finding-code registry rendered for people and programs: `preflight explain CODE`,
//! `preflight codes` (text, JSON, Markdown), `docs/codes.md` and the README's code table.
//!
//! Everything here is derived from [`preflight_model::report::Code`]; the tests below fail when
//! `docs/codes.md` or the README table disagree with the registry.

use std::fmt::Write as _;

use preflight_model::report::{Code, CodeInfo, Severity, Step};

/// Schema string of the `preflight codes --format json` document.
pub const CODES_SCHEMA: &str = "preflight.codes/v1";

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// Wraps `text` at `width` columns, each line prefixed with `indent`.
fn wrap(text: &str, indent: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > width {
            let _ = writeln!(out, "{indent}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{indent}{line}");
    }
    out
}

/// The registry entry of `name`, or an error text that lists the known codes.
pub fn lookup(name: &str) -> Result<&'static CodeInfo, String> {
    let name = name.trim();
    if let Some(info) = Code::parse(name).info() {
        return Ok(info);
    }
    let known = || Code::registry().map(|i| i.code);
    let mut near: Vec<&str> = known()
        .filter(|c| !name.is_empty() && (c.contains(name) || c.split('.').any(|p| p == name)))
        .collect();
    if near.is_empty() {
        let area = name.split('.').next().unwrap_or_default();
        near = known()
            .filter(|c| !area.is_empty() && c.split('.').next() == Some(area))
            .collect();
    }
    let mut msg = format!("unknown finding code {name:?}");
    if !near.is_empty() {
        msg.push_str(&format!("; did you mean {}?", near.join(", ")));
    }
    msg.push_str(" (`preflight codes` lists every code)");
    Err(msg)
}

/// `preflight explain CODE`: what a code means, how it is detected and what to do.
pub fn explain(info: &CodeInfo) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}: {}", info.code, info.description);
    out.push_str(&wrap(
        &format!(
            "severity: {}; step: {}, {}",
            severity_name(info.severity),
            info.step,
            info.step.describe()
        ),
        "",
        96,
    ));
    for (title, text) in [
        ("What it means", info.meaning),
        ("How it is detected", info.detection),
        ("What to do", info.fix),
    ] {
        let _ = writeln!(out, "\n{title}:");
        out.push_str(&wrap(text, "  ", 96));
    }
    out
}

/// `preflight codes`: one line per code (code, severity, step, description).
pub fn codes_text() -> String {
    let w = Code::registry().map(|i| i.code.len()).max().unwrap_or(0);
    let mut out = String::new();
    for i in Code::registry() {
        let _ = writeln!(
            out,
            "{:w$}  {:7}  {:8}  {}",
            i.code,
            severity_name(i.severity),
            i.step.as_str(),
            i.description
        );
    }
    out.push_str(
        "\n`preflight explain CODE` says what a code means, how it is detected and what to do.\n",
    );
    out
}

/// `preflight codes --format json`: `{"schema": "preflight.codes/v1", "codes": [...]}`.
pub fn codes_json() -> String {
    let doc = serde_json::json!({
        "schema": CODES_SCHEMA,
        "codes": Code::registry().collect::<Vec<_>>(),
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// `preflight codes --format markdown`: the content of `docs/codes.md`.
pub fn codes_markdown() -> String {
    let mut out = String::from(
        "# Finding codes\n\n\
         Generated from the registry (`preflight_model::report::Code`) by \
         `preflight codes --format markdown > docs/codes.md`; a test fails when this file and the \
         registry disagree. `preflight explain CODE` prints one entry.\n\n\
         | code | severity | step | description |\n| --- | --- | --- | --- |\n",
    );
    for i in Code::registry() {
        let _ = writeln!(
            out,
            "| [`{}`](#{}) | {} | {} | {} |",
            i.code,
            i.code.replace('.', ""),
            severity_name(i.severity),
            i.step,
            md_cell(i.description)
        );
    }
    for step in Step::ALL {
        let mut infos = Code::registry().filter(|i| i.step == step).peekable();
        if infos.peek().is_none() {
            continue;
        }
        let _ = writeln!(out, "\n## Step `{step}`: {}", step.describe());
        for i in infos {
            let _ = writeln!(out, "\n### `{}`\n", i.code);
            let _ = writeln!(
                out,
                "{} Default severity: **{}**.\n",
                i.description,
                severity_name(i.severity)
            );
            let _ = writeln!(out, "- **What it means:** {}", i.meaning);
            let _ = writeln!(out, "- **How it is detected:** {}", i.detection);
            let _ = writeln!(out, "- **What to do:** {}", i.fix);
        }
    }
    out
}

/// The README's "What it checks" table: one row per step with its codes.
pub fn readme_table() -> String {
    let mut out = String::from("| step | finding codes |\n| --- | --- |\n");
    for step in Step::ALL {
        let names: Vec<String> = Code::registry()
            .filter(|i| i.step == step)
            .map(|i| format!("`{}`", i.code))
            .collect();
        if !names.is_empty() {
            let _ = writeln!(out, "| {} | {} |", step.describe(), names.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_file(rel: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn docs_codes_md_is_generated_from_the_registry() {
        assert!(
            repo_file("docs/codes.md") == codes_markdown(),
            "docs/codes.md disagrees with the code registry: regenerate it with \
             `cargo run -p preflight -- codes --format markdown > docs/codes.md`"
        );
    }

    #[test]
    fn readme_code_table_matches_the_registry() {
        let readme = repo_file("README.md");
        let table = readme_table();
        assert!(
            readme.contains(&table),
            "README.md's code table disagrees with the registry; it must read:\n{table}"
        );
    }

    #[test]
    fn explain_teaches_meaning_detection_and_fix() {
        let info = lookup("probe.mtu-blackhole").unwrap();
        let text = explain(info);
        assert!(
            text.starts_with("probe.mtu-blackhole: Small probes pass"),
            "{text}"
        );
        for part in [
            "What it means:",
            "How it is detected:",
            "What to do:",
            "severity: error",
            "step: probe,",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        assert!(text.lines().all(|l| l.chars().count() <= 96), "{text}");
    }

    #[test]
    fn unknown_codes_list_the_near_ones() {
        let e = lookup("probe.mtu").unwrap_err();
        assert!(e.contains("unknown finding code \"probe.mtu\""), "{e}");
        assert!(
            e.contains("probe.mtu-blackhole") && e.contains("preflight codes"),
            "{e}"
        );
        let e = lookup("probe.mtu-blackhol").unwrap_err();
        assert!(e.contains("did you mean probe.mtu-blackhole?"), "{e}");
        let e = lookup("probe.nothing").unwrap_err();
        assert!(
            e.contains("probe.unreachable") && !e.contains("drift."),
            "{e}"
        );
        let e = lookup("").unwrap_err();
        assert!(!e.contains("did you mean"), "{e}");
    }

    #[test]
    fn codes_json_lists_every_code_with_description_severity_and_step() {
        let v: serde_json::Value = serde_json::from_str(&codes_json()).unwrap();
        assert_eq!(v["schema"], CODES_SCHEMA);
        let list = v["codes"].as_array().unwrap();
        assert_eq!(list.len(), Code::ALL.len());
        for (entry, code) in list.iter().zip(Code::ALL) {
            assert_eq!(entry["code"], code.as_str());
            for field in [
                "description",
                "severity",
                "step",
                "meaning",
                "detection",
                "fix",
            ] {
                assert!(entry[field].is_string(), "{code}: {field}");
            }
        }
        assert_eq!(list[0]["severity"], "error");
        assert_eq!(list[0]["step"], "validate");
    }

    #[test]
    fn codes_text_has_one_line_per_code() {
        let text = codes_text();
        for c in Code::ALL {
            assert_eq!(
                text.lines()
                    .filter(|l| l.split_whitespace().next() == Some(c.as_str()))
                    .count(),
                1,
                "{c}"
            );
        }
    }
}
