//! Rows of `preflight spaces` and `preflight subnets` (like `juju spaces` / `juju subnets`,
//! plus fabric, VLAN, MTU and the machines with a link there), as data and as text tables.

use preflight_model::provider::{ProviderModel, Subnet};
use serde::Serialize;

use crate::snapshot::UNDEFINED_SPACE_NAME;

/// A name with its MAAS id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ref {
    /// MAAS id.
    pub id: i64,
    /// Name.
    pub name: String,
}

/// The VLAN a subnet is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VlanRef {
    /// MAAS VLAN object id.
    pub id: i64,
    /// 802.1Q vid (0 = untagged).
    pub vid: u16,
    /// VLAN name, when any.
    pub name: Option<String>,
    /// MTU.
    pub mtu: u32,
}

/// One subnet row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubnetRow {
    /// MAAS subnet id.
    pub id: i64,
    /// CIDR.
    pub cidr: String,
    /// Subnet name.
    pub name: String,
    /// Space; `None` for `undefined`.
    pub space: Option<Ref>,
    /// Fabric, when the VLAN is known.
    pub fabric: Option<Ref>,
    /// VLAN, when known.
    pub vlan: Option<VlanRef>,
    /// Gateway, when any.
    pub gateway: Option<String>,
    /// Whether MAAS manages addresses in it.
    pub managed: bool,
    /// Hostnames of the machines with a link on this subnet, sorted.
    pub machines: Vec<String>,
}

/// One space with its subnets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpaceRow {
    /// MAAS space id; `None` for the pseudo-space `undefined`.
    pub id: Option<i64>,
    /// Space name.
    pub name: String,
    /// Subnets in the space, by CIDR.
    pub subnets: Vec<SubnetRow>,
}

fn subnet_row(model: &ProviderModel, s: &Subnet) -> SubnetRow {
    let vlan = model.vlans.get(&s.vlan_id);
    let mut machines: Vec<String> = model
        .machines
        .iter()
        .filter(|m| {
            m.interfaces
                .iter()
                .flat_map(|i| &i.links)
                .any(|l| l.subnet_id == Some(s.id))
        })
        .map(|m| m.hostname.clone())
        .collect();
    machines.sort();
    machines.dedup();
    SubnetRow {
        id: s.id,
        cidr: s.cidr.to_string(),
        name: s.name.clone(),
        space: s.space_id.and_then(|id| {
            model.spaces.get(&id).map(|sp| Ref {
                id,
                name: sp.name.clone(),
            })
        }),
        fabric: vlan.and_then(|v| {
            model.fabrics.get(&v.fabric_id).map(|f| Ref {
                id: f.id,
                name: f.name.clone(),
            })
        }),
        vlan: vlan.map(|v| VlanRef {
            id: v.id,
            vid: v.vid,
            name: v.name.clone(),
            mtu: v.mtu,
        }),
        gateway: s.gateway.map(|g| g.to_string()),
        managed: s.managed,
        machines,
    }
}

fn sort_subnets(rows: &mut [SubnetRow], model: &ProviderModel) {
    rows.sort_by(|a, b| {
        let ka = model.subnets.get(&a.id).map(|s| s.cidr);
        let kb = model.subnets.get(&b.id).map(|s| s.cidr);
        ka.cmp(&kb).then(a.id.cmp(&b.id))
    });
}

/// Every subnet, by CIDR (subnets with the same CIDR on two fabrics are two rows).
/// With `space`, only the subnets of the space with that name (`undefined` for none).
pub fn subnets(model: &ProviderModel, space: Option<&str>) -> Vec<SubnetRow> {
    let mut rows: Vec<SubnetRow> = model
        .subnets
        .values()
        .map(|s| subnet_row(model, s))
        .filter(|r| match space {
            None => true,
            Some(UNDEFINED_SPACE_NAME) => r.space.is_none(),
            Some(name) => r.space.as_ref().is_some_and(|s| s.name == name),
        })
        .collect();
    sort_subnets(&mut rows, model);
    rows
}

/// Every space by name, each with its subnets; the pseudo-space `undefined` last, when it
/// holds any subnet.
pub fn spaces(model: &ProviderModel) -> Vec<SpaceRow> {
    let mut out: Vec<SpaceRow> = model
        .spaces
        .values()
        .map(|sp| {
            let mut subnets: Vec<SubnetRow> = model
                .subnets_in_space(sp.id)
                .map(|s| subnet_row(model, s))
                .collect();
            sort_subnets(&mut subnets, model);
            SpaceRow {
                id: Some(sp.id),
                name: sp.name.clone(),
                subnets,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let undefined = subnets(model, Some(UNDEFINED_SPACE_NAME));
    if !undefined.is_empty() {
        out.push(SpaceRow {
            id: None,
            name: UNDEFINED_SPACE_NAME.to_string(),
            subnets: undefined,
        });
    }
    out
}

/// Lays rows out in columns two spaces apart, with no trailing blanks.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let all = std::iter::once(header.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .chain(rows.iter().cloned());
    for r in all {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < r.len() {
                let pad = widths[i] - c.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn dash(s: Option<String>) -> String {
    s.filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".to_string())
}

fn subnet_cells(s: &SubnetRow) -> Vec<String> {
    vec![
        s.cidr.clone(),
        s.id.to_string(),
        dash(s.fabric.as_ref().map(|f| f.name.clone())),
        dash(s.vlan.as_ref().map(|v| v.vid.to_string())),
        dash(s.vlan.as_ref().and_then(|v| v.name.clone())),
        dash(s.vlan.as_ref().map(|v| v.mtu.to_string())),
        dash(Some(s.machines.join(", "))),
    ]
}

/// The `preflight spaces` table: one line per subnet, the space named on its first line.
pub fn render_spaces(rows: &[SpaceRow]) -> String {
    let mut lines = Vec::new();
    for sp in rows {
        let id = dash(sp.id.map(|i| i.to_string()));
        if sp.subnets.is_empty() {
            let mut l = vec![sp.name.clone(), id];
            l.extend(std::iter::repeat_n("-".to_string(), 7));
            lines.push(l);
            continue;
        }
        for (i, s) in sp.subnets.iter().enumerate() {
            let mut l = if i == 0 {
                vec![sp.name.clone(), id.clone()]
            } else {
                vec![String::new(), String::new()]
            };
            l.extend(subnet_cells(s));
            lines.push(l);
        }
    }
    table(
        &[
            "Space",
            "ID",
            "Subnet",
            "Subnet ID",
            "Fabric",
            "VID",
            "VLAN",
            "MTU",
            "Machines",
        ],
        &lines,
    )
}

/// The `preflight subnets` table: one line per subnet.
pub fn render_subnets(rows: &[SubnetRow]) -> String {
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|s| {
            let mut c = subnet_cells(s);
            let machines = c.pop().unwrap_or_default();
            c.insert(
                2,
                s.space
                    .as_ref()
                    .map(|sp| sp.name.clone())
                    .unwrap_or_else(|| UNDEFINED_SPACE_NAME.to_string()),
            );
            c.push(dash(s.gateway.clone()));
            c.push(if s.managed { "yes" } else { "no" }.to_string());
            c.push(machines);
            c
        })
        .collect();
    table(
        &[
            "Subnet", "ID", "Space", "Fabric", "VID", "VLAN", "MTU", "Gateway", "Managed",
            "Machines",
        ],
        &lines,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ProviderModel {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/maas");
        crate::model_from_path(std::path::Path::new(dir)).unwrap()
    }

    #[test]
    fn spaces_hold_their_subnets_vlans_and_machines() {
        let rows = spaces(&model());
        let names: Vec<_> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["ceph-data", "internal-api", "ipv6-lab", "oam", "undefined"]
        );
        let storage = &rows[0];
        assert_eq!(storage.id, Some(2));
        assert_eq!(storage.subnets.len(), 1);
        let s = &storage.subnets[0];
        assert_eq!(s.cidr, "10.40.0.0/24");
        assert_eq!(s.fabric.as_ref().unwrap().name, "fabric-1");
        let v = s.vlan.as_ref().unwrap();
        assert_eq!(
            (v.id, v.vid, v.name.as_deref(), v.mtu),
            (7006, 40, Some("ceph"), 9000)
        );
        assert_eq!(s.machines, ["birch"]);
        let oam: Vec<_> = rows[3].subnets.iter().map(|s| s.cidr.as_str()).collect();
        assert_eq!(
            oam,
            ["10.10.0.0/24", "10.10.0.0/24", "10.11.0.0/24"],
            "one CIDR on two fabrics is two subnets"
        );
        assert_eq!(
            rows[3].subnets[0].machines,
            ["alder", "birch", "dogwood"],
            "dhcp link counts as a link"
        );
        assert!(rows[3].subnets[1].machines.is_empty());
        let undefined = &rows[4];
        assert_eq!(undefined.id, None);
        assert_eq!(undefined.subnets[0].cidr, "192.168.200.0/24");
        assert_eq!(undefined.subnets[0].vlan.as_ref().unwrap().name, None);
        assert_eq!(undefined.subnets[0].machines, ["dogwood"]);
    }

    #[test]
    fn spaces_text_table() {
        let text = render_spaces(&spaces(&model()));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("Space"), "{text}");
        assert!(lines[0].contains("MTU") && lines[0].contains("Machines"));
        let storage = lines.iter().find(|l| l.starts_with("ceph-data")).unwrap();
        let cells: Vec<&str> = storage.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "ceph-data",
                "2",
                "10.40.0.0/24",
                "16",
                "fabric-1",
                "40",
                "ceph",
                "9000",
                "birch"
            ]
        );
        let undefined = lines.iter().find(|l| l.starts_with("undefined")).unwrap();
        let cells: Vec<&str> = undefined.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "undefined",
                "-",
                "192.168.200.0/24",
                "17",
                "fabric-0",
                "200",
                "-",
                "1500",
                "dogwood"
            ]
        );
        // Continuation lines leave the space columns blank.
        let i = lines.iter().position(|l| l.starts_with("oam")).unwrap();
        assert!(lines[i + 1].trim_start().starts_with("10.10.0.0/24"));
        assert!(lines[i + 2].trim_start().starts_with("10.11.0.0/24"));
        assert!(lines.iter().all(|l| l == &l.trim_end()));
    }

    #[test]
    fn subnets_table_and_space_filter() {
        let m = model();
        let all = subnets(&m, None);
        assert_eq!(all.len(), 8);
        let text = render_subnets(&all);
        let line = text
            .lines()
            .find(|l| l.starts_with("10.40.0.0/24"))
            .unwrap();
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "10.40.0.0/24",
                "16",
                "ceph-data",
                "fabric-1",
                "40",
                "ceph",
                "9000",
                "-",
                "yes",
                "birch"
            ]
        );
        let oob = text
            .lines()
            .find(|l| l.starts_with("192.168.200.0/24"))
            .unwrap();
        assert!(oob.split_whitespace().any(|c| c == "no"), "{oob}");
        let internal = subnets(&m, Some("internal-api"));
        let cidrs: Vec<_> = internal.iter().map(|s| s.cidr.as_str()).collect();
        assert_eq!(cidrs, ["10.20.0.0/24", "10.21.0.0/24"]);
        assert!(subnets(&m, Some("nope")).is_empty());
        assert_eq!(subnets(&m, Some("undefined")).len(), 1);
    }
}
