//! The readable per-link table of `preflight-agent observe --format text`.

use std::fmt::Write;

use preflight_model::observed::{Link, ObservedConfig};

/// Renders one row per link, like `ip -br addr` with more columns:
/// name, kind, state, MTU, master and addresses (address/prefix, space-separated).
///
/// The state is the operational state in upper case, `ADMIN-DOWN` when the link is
/// administratively down. Columns are padded to the widest cell.
pub fn render_text(config: &ObservedConfig) -> String {
    let header = ["NAME", "KIND", "STATE", "MTU", "MASTER", "ADDRESSES"];
    let mut rows: Vec<[String; 6]> = Vec::with_capacity(config.links.len());
    let mut addrs = config.addresses.iter().peekable();
    for link in &config.links {
        let mut list = String::new();
        // Addresses are ordered by ifindex, like links: walk both in step.
        while let Some(a) = addrs.next_if(|a| a.ifindex <= link.ifindex) {
            if a.ifindex == link.ifindex {
                if !list.is_empty() {
                    list.push(' ');
                }
                let _ = write!(list, "{}/{}", a.address, a.prefix_len);
            }
        }
        rows.push([
            link.name.clone(),
            link.kind.to_string(),
            state(link),
            link.mtu.to_string(),
            link.master.clone().unwrap_or_else(|| "-".to_string()),
            list,
        ]);
    }
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::with_capacity((rows.len() + 1) * 80);
    push_row(&mut out, &widths, header.iter().copied());
    for row in &rows {
        push_row(&mut out, &widths, row.iter().map(String::as_str));
    }
    out
}

fn state(link: &Link) -> String {
    if link.admin_up {
        link.oper_state.as_str().to_uppercase()
    } else {
        "ADMIN-DOWN".to_string()
    }
}

fn push_row<'a>(out: &mut String, widths: &[usize; 6], cells: impl Iterator<Item = &'a str>) {
    let mut line = String::new();
    for (i, cell) in cells.enumerate() {
        if i + 1 == widths.len() {
            line.push_str(cell);
        } else {
            let pad = widths[i].saturating_sub(cell.chars().count());
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', pad + 2));
        }
    }
    out.push_str(line.trim_end());
    out.push('\n');
}
