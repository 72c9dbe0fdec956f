//! Builders of provider models for the validate tests and the benchmark.
#![allow(dead_code)]

use preflight_model::provider::{
    Fabric, Interface, InterfaceKind, InterfaceLink, Machine, ProviderModel, Space, Subnet, Vlan,
};

/// Builds a [`ProviderModel`] step by step.
#[derive(Default)]
pub(crate) struct Builder {
    pub model: ProviderModel,
    next_iface: i64,
}

impl Builder {
    pub(crate) fn new() -> Builder {
        Builder::default()
    }
    pub(crate) fn space(&mut self, id: i64, name: &str) -> &mut Self {
        self.model.spaces.insert(
            id,
            Space {
                id,
                name: name.into(),
                description: None,
            },
        );
        self
    }
    pub(crate) fn fabric(&mut self, id: i64) -> &mut Self {
        self.model.fabrics.insert(
            id,
            Fabric {
                id,
                name: format!("fabric-{id}"),
            },
        );
        self
    }
    /// A VLAN; `space` None = undefined.
    pub(crate) fn vlan(&mut self, id: i64, fabric: i64, vid: u16, space: Option<i64>) -> &mut Self {
        if !self.model.fabrics.contains_key(&fabric) {
            self.fabric(fabric);
        }
        self.model.vlans.insert(
            id,
            Vlan {
                id,
                fabric_id: fabric,
                vid,
                name: None,
                mtu: 1500,
                space_id: space,
            },
        );
        self
    }
    /// A subnet on a VLAN (inherits the VLAN's space).
    pub(crate) fn subnet(&mut self, id: i64, cidr: &str, vlan: i64) -> &mut Self {
        let space_id = self.model.vlans[&vlan].space_id;
        self.model.subnets.insert(
            id,
            Subnet {
                id,
                name: cidr.into(),
                cidr: cidr.parse().unwrap(),
                vlan_id: vlan,
                space_id,
                gateway: None,
                managed: true,
                dns_servers: Vec::new(),
            },
        );
        self
    }
    /// A machine (amd64, 8 cores at 2 GHz, 32 GiB, 500 GiB disk, zone default) with one
    /// interface per linked subnet.
    pub(crate) fn machine(
        &mut self,
        system_id: &str,
        status: &str,
        subnets: &[i64],
    ) -> &mut Machine {
        let mut interfaces = Vec::new();
        for (i, sid) in subnets.iter().enumerate() {
            self.next_iface += 1;
            let vlan = self.model.subnets[sid].vlan_id;
            interfaces.push(Interface {
                id: self.next_iface,
                name: format!("eth{i}"),
                kind: InterfaceKind::Physical,
                mac: None,
                enabled: true,
                vlan_id: Some(vlan),
                effective_mtu: 1500,
                parents: vec![],
                children: vec![],
                bond_mode: None,
                links: vec![InterfaceLink {
                    id: self.next_iface,
                    mode: "auto".into(),
                    subnet_id: Some(*sid),
                    ip: None,
                }],
            });
        }
        self.model.machines.push(Machine {
            system_id: system_id.into(),
            hostname: format!("host-{system_id}"),
            fqdn: None,
            status: status.into(),
            architecture: Some("amd64/generic".into()),
            cpu_count: Some(8),
            cpu_speed_mhz: Some(2000),
            memory_mib: Some(32 * 1024),
            root_disk_mib: Some(500 * 1024),
            zone: Some("default".into()),
            pool: Some("default".into()),
            tags: vec![],
            interfaces,
            ip_addresses: vec![],
        });
        self.model.machines.last_mut().unwrap()
    }
    pub(crate) fn build(&self) -> ProviderModel {
        let mut m = self.model.clone();
        m.machines.sort_by(|a, b| a.system_id.cmp(&b.system_id));
        m
    }
}

/// The hand-made reference MAAS: spaces public(1)/internal(2)/storage(3) on fabric 0, one
/// subnet each; m1..m6 Ready, all in public and internal, m5 and m6 also in storage; m4..m6
/// in zone z2, the rest in z1; m6 tagged ssd.
pub(crate) fn reference() -> Builder {
    let mut b = Builder::new();
    b.space(1, "public")
        .space(2, "internal")
        .space(3, "storage");
    b.vlan(11, 0, 0, Some(1))
        .vlan(12, 0, 20, Some(2))
        .vlan(13, 0, 30, Some(3));
    b.subnet(21, "10.0.1.0/24", 11)
        .subnet(22, "10.0.2.0/24", 12)
        .subnet(23, "10.0.3.0/24", 13);
    for i in 1..=6 {
        let subnets: &[i64] = if i >= 5 { &[21, 22, 23] } else { &[21, 22] };
        let m = b.machine(&format!("m{i}"), "Ready", subnets);
        m.zone = Some(if i >= 4 { "z2" } else { "z1" }.into());
        if i == 6 {
            m.tags.push("ssd".into());
        }
    }
    b
}

/// A generated MAAS with `n` machines, in the given spaces (one VLAN and /24..-sized subnet
/// each, on `fabrics` fabrics), every machine linked into every space; all Ready (the only
/// status MAAS allocates from).
pub(crate) fn generated(n: usize, spaces: &[&str]) -> ProviderModel {
    let mut b = Builder::new();
    for (i, name) in spaces.iter().enumerate() {
        let id = i as i64 + 1;
        b.space(id, name);
        b.vlan(100 + id, 0, (10 + i) as u16, Some(id));
        b.subnet(1000 + id, &format!("10.{}.0.0/16", 10 + i), 100 + id);
    }
    let subnets: Vec<i64> = (1..=spaces.len() as i64).map(|id| 1000 + id).collect();
    // Routed, as real MAAS subnets are: each has a gateway (relation.unroutable stays quiet).
    for (i, id) in subnets.iter().enumerate() {
        if let Some(s) = b.model.subnets.get_mut(id) {
            s.gateway = Some(format!("10.{}.0.1", 10 + i).parse().unwrap());
        }
    }
    for i in 0..n {
        let m = b.machine(&format!("m{i:05}"), "Ready", &subnets);
        m.zone = Some(format!("zone-{}", i % 3));
    }
    b.build()
}
