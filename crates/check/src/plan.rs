//! Plan: which agent probes which address, from which of its own addresses.
//!
//! Per space, every agent with an address in it probes every other such agent from its own
//! address in that space, in both directions, with the MTU probe at the path's VLAN MTU
//! (the smaller of the two VLANs). Subnets of one space are treated as equal in routing, so
//! pairs across subnets of a space are probed too.
//!
//! Up to [`PlanOptions::full_mesh_max`] endpoints per space the plan is the full mesh
//! (n·(n−1) probes). Above it the plan is sparse and deterministic:
//! * endpoints are ordered on a ring by a 64-bit FNV-1a hash of `(space, agent id, address)`
//!   (consistent hashing: adding or removing one machine changes only its neighbours' probes);
//! * each endpoint probes its `k` ring successors, and every such pair is also probed in the
//!   reverse direction, so every endpoint has at least `k` probes out and `k` in, and every
//!   probed pair is probed both ways (asymmetry still shows);
//! * for every ordered pair of subnets (S, T) of the space (S = T included when S has two or
//!   more endpoints) with fewer than `k` probes so far, extra pairs are added by walking both
//!   subnets' ring orders, until `min(k, |S|·|T| less self-pairs)` probes go each way.
//!
//! Bound: a sparse space with n endpoints and s subnets gets at most `2·k·n + 2·k·s²` probes
//! (and at least `k·n`), i.e. O(k·n) instead of O(n²). Building it costs O(n log n) per space.
//!
//! `--isolate A:B` adds probes from A addresses to B addresses and back (between different
//! machines), expected to fail; the same full-mesh/sparse rule applies to the pair of spaces.
//!
//! Duplicate and reused addresses never break the plan:
//! * probe ids are unique per (space, source agent, target agent, source address, target
//!   address, kind), so two peers sharing an address are two probes;
//! * a target address that is also one of the prober's own addresses is never probed (the
//!   prober would only ping itself): it is listed in [`CheckPlan::untestable`] instead;
//! * an isolation probe is planned only when the target address cannot be answered from the
//!   prober's own side (it is in none of the prober's on-link subnets and no machine of the
//!   prober's space holds it); otherwise another address of the target machine in that space
//!   is taken, and when there is none the probe is listed as untestable, with the reason.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;
use preflight_model::plan::{Expectation, PlannedTarget, ProbePlan, ProbeSettings, PLAN_SCHEMA};
use preflight_model::provider::ProviderModel;

use crate::merge::MergedAgent;

/// Options of the plan.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Largest number of endpoints in a space for which the full mesh is planned.
    pub full_mesh_max: usize,
    /// Minimum probes per endpoint and per subnet pair, each direction, in a sparse plan.
    pub k: usize,
    /// Pairs of space names that must be isolated from each other.
    pub isolate: Vec<(String, String)>,
    /// Probe settings handed to every agent.
    pub settings: ProbeSettings,
    /// Add the neighbour (duplicate address) and gateway probes of [`crate::infra`].
    pub infrastructure: bool,
    /// The Juju controllers to check, when any (see [`crate::infra::Controllers`]).
    pub controllers: Option<crate::infra::Controllers>,
    /// The bundle's space pairs and the isolation policy, for the cross-space probes.
    pub topology: crate::cross_space::Topology,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            full_mesh_max: 128,
            k: 3,
            isolate: Vec::new(),
            settings: ProbeSettings::default(),
            infrastructure: true,
            controllers: None,
            topology: Default::default(),
        }
    }
}

/// One address of one agent in one space: a probe source and target.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Index of the agent in the merge's list.
    pub agent: usize,
    /// The address as text (probe ids are made of it).
    pub addr_text: String,
    /// Agent id.
    pub agent_id: String,
    /// Agent display name.
    pub name: String,
    /// The address.
    pub address: IpAddr,
    /// MAAS subnet id.
    pub subnet_id: i64,
    /// VLAN MTU.
    pub mtu: u32,
    /// CIDR of the MAAS subnet, when MAAS has it.
    pub cidr: Option<IpNet>,
}

/// A probe the plan leaves out because its result would mean nothing, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Untestable {
    /// Space (or isolation pseudo-space) the probe would have proved.
    pub space: String,
    /// Machine that would have probed.
    pub source_machine: String,
    /// Machine that owns the target address.
    pub target_machine: String,
    /// The prober's address.
    pub source: IpAddr,
    /// The target address.
    pub target: IpAddr,
    /// Why the probe cannot tell anything, in one sentence.
    pub reason: String,
}

/// The whole check's plan.
#[derive(Debug, Clone, Default)]
pub struct CheckPlan {
    /// One plan per agent id (agents with nothing to probe get an empty plan).
    pub per_agent: BTreeMap<String, ProbePlan>,
    /// Total probes.
    pub probes: usize,
    /// Probes left out on purpose (self-addresses, isolation probes answered locally).
    pub untestable: Vec<Untestable>,
    /// The controllers the plan checks, when any.
    pub controllers: Option<crate::infra::Controllers>,
    /// The space pairs the cross-space probes cover (see [`crate::cross_space`]).
    pub cross: Vec<crate::cross_space::CrossPair>,
}

impl CheckPlan {
    /// Agents whose plan asks for more echo requests than an agent runs by default
    /// (`preflight_model::limits::MAX_PLAN_PACKETS`): they would refuse the targets past it.
    /// One line per agent, for a warning before the plans go out.
    pub fn over_agent_caps(&self) -> Vec<String> {
        let cap = preflight_model::limits::MAX_PLAN_PACKETS;
        self.per_agent
            .iter()
            .filter_map(|(id, p)| {
                let per = u64::from(p.settings.count) * (1 + u64::from(p.settings.retries));
                let n = per * p.targets.len() as u64;
                (n > cap).then(|| {
                    format!(
                        "the plan for agent {id} asks for {n} echo requests, more than the {cap} an agent runs by default; it will refuse the targets past that (lower --count, or run that agent with --max-packets)"
                    )
                })
            })
            .collect()
    }
}

/// 64-bit FNV-1a, stable across builds and platforms.
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in *p {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Endpoints per space name, from the merged agents; ordered by agent id then address.
pub fn endpoints_by_space(
    provider: &ProviderModel,
    agents: &[MergedAgent],
) -> BTreeMap<String, Vec<Endpoint>> {
    let mut out: BTreeMap<String, Vec<Endpoint>> = BTreeMap::new();
    for (ai, a) in agents.iter().enumerate() {
        for addr in &a.addresses {
            let space = provider
                .spaces
                .get(&addr.space_id)
                .map(|s| s.name.clone())
                .unwrap_or_else(|| format!("space-{}", addr.space_id));
            out.entry(space).or_default().push(Endpoint {
                agent: ai,
                addr_text: addr.address.to_string(),
                agent_id: a.agent_id.clone(),
                name: a.name.clone(),
                address: addr.address,
                subnet_id: addr.subnet_id,
                mtu: addr.vlan_mtu,
                cidr: provider.subnets.get(&addr.subnet_id).map(|s| s.cidr),
            });
        }
    }
    for eps in out.values_mut() {
        eps.sort_by(|x, y| (&x.agent_id, x.address).cmp(&(&y.agent_id, y.address)));
        // One address on two links of one machine is one endpoint.
        eps.dedup_by(|x, y| x.agent_id == y.agent_id && x.address == y.address);
    }
    out
}

/// What a prober's "own side" is: its own addresses and on-link subnets, and who else holds
/// each address of a space.
struct Sides {
    /// Per agent index: its addresses with their subnet CIDRs.
    own: Vec<Vec<(IpAddr, Option<IpNet>)>>,
    /// Per space name: address → agent ids holding it there.
    holders: HashMap<String, HashMap<IpAddr, Vec<String>>>,
    /// Per (subnet, address): the machines holding it (more than one: a duplicate).
    in_subnet: HashMap<(i64, IpAddr), Vec<String>>,
}

impl Sides {
    fn new(agents: &[MergedAgent], spaces: &BTreeMap<String, Vec<Endpoint>>) -> Sides {
        let mut own: Vec<Vec<(IpAddr, Option<IpNet>)>> = vec![Vec::new(); agents.len()];
        let mut holders: HashMap<String, HashMap<IpAddr, Vec<String>>> = HashMap::new();
        let mut in_subnet: HashMap<(i64, IpAddr), Vec<String>> = HashMap::new();
        for (space, eps) in spaces {
            for e in eps {
                in_subnet
                    .entry((e.subnet_id, e.address))
                    .or_default()
                    .push(e.name.clone());
                own[e.agent].push((e.address, e.cidr));
                holders
                    .entry(space.clone())
                    .or_default()
                    .entry(e.address)
                    .or_default()
                    .push(e.name.clone());
            }
        }
        Sides {
            own,
            holders,
            in_subnet,
        }
    }

    /// Why a probe from `s` to `t` cannot tell anything because one of its addresses is held
    /// by several machines in its subnet (replies go to whichever answers ARP first).
    fn duplicated(&self, s: &Endpoint, t: &Endpoint) -> Option<String> {
        [s, t].into_iter().find_map(|e| {
            let h = self.in_subnet.get(&(e.subnet_id, e.address))?;
            (h.len() > 1).then(|| {
                format!(
                    "{} is held by {} (address.duplicate), so a reply would reach whichever answers first",
                    e.address,
                    h.join(" and ")
                )
            })
        })
    }

    /// Why a probe from `s` to `t` would only reach the prober itself, if it would.
    fn self_target(&self, s: &Endpoint, t: &Endpoint) -> Option<String> {
        self.own[s.agent]
            .iter()
            .any(|(a, _)| *a == t.address)
            .then(|| {
                format!(
                    "{} is also {}'s own address, so the probe would only reach {} itself",
                    t.address, s.name, s.name
                )
            })
    }

    /// Why an isolation probe from `s` (in `side`) to `t` could be answered without crossing
    /// the boundary, if it could.
    fn answered_locally(&self, side: &str, s: &Endpoint, t: &Endpoint) -> Option<String> {
        if let Some(r) = self.self_target(s, t) {
            return Some(r);
        }
        if let Some(net) = self.own[s.agent]
            .iter()
            .filter_map(|(_, c)| *c)
            .find(|c| c.contains(&t.address))
        {
            return Some(format!(
                "{} lies in {net}, on-link for {}, so a host on {}'s own side with that address would answer",
                t.address, s.name, s.name
            ));
        }
        let others: Vec<&String> = self
            .holders
            .get(side)
            .and_then(|h| h.get(&t.address))
            .map(|v| v.iter().filter(|n| **n != t.name).collect())
            .unwrap_or_default();
        if let Some(o) = others.first() {
            return Some(format!(
                "{} is also held by {o} in {side}, on {}'s own side, which would answer",
                t.address, s.name
            ));
        }
        None
    }
}

/// Name of the pseudo-space that holds the probes of `--isolate A:B`.
pub fn isolation_space(a: &str, b: &str) -> String {
    format!("isolate:{a}:{b}")
}

/// One unit of planning: the probes of one space, or of one isolated pair of spaces.
struct Job<'a> {
    /// Space (or isolation pseudo-space) name: the probes' `space`.
    space: String,
    /// Source side (and, for a space, also the target side).
    ea: &'a [Endpoint],
    /// Target side of an isolation job.
    eb: &'a [Endpoint],
    /// Reachable (a space) or isolated (a pair of spaces).
    expect: Expectation,
    /// Names of the two real spaces of an isolation job.
    sides: (String, String),
}

/// Builds the plan for every agent.
pub fn build_plan(
    provider: &ProviderModel,
    agents: &[MergedAgent],
    opts: &PlanOptions,
) -> CheckPlan {
    let spaces = endpoints_by_space(provider, agents);
    let sides = Sides::new(agents, &spaces);
    let mut jobs: Vec<Job<'_>> = spaces
        .iter()
        .map(|(name, eps)| Job {
            space: name.clone(),
            ea: eps.as_slice(),
            eb: eps.as_slice(),
            expect: Expectation::Reachable,
            sides: (name.clone(), name.clone()),
        })
        .collect();
    let mut seen = BTreeSet::new();
    let empty: Vec<Endpoint> = Vec::new();
    for (a, b) in &opts.isolate {
        let key = if a <= b { (a, b) } else { (b, a) };
        if a == b || !seen.insert(key) {
            continue;
        }
        let ea = spaces.get(a).unwrap_or(&empty);
        let eb = spaces.get(b).unwrap_or(&empty);
        jobs.push(Job {
            space: isolation_space(a, b),
            ea: ea.as_slice(),
            eb: eb.as_slice(),
            expect: Expectation::Isolated,
            sides: (a.clone(), b.clone()),
        });
    }
    // Spaces are independent: plan them on every core, then hand the probes to their agents.
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, jobs.len().max(1));
    let chunk = jobs.len().div_ceil(threads).max(1);
    let sides = &sides;
    let produced: Vec<Planned> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let mut all = Planned::default();
                    for j in part {
                        let p = plan_job(j, sides, opts);
                        all.probes.extend(p.probes);
                        all.untestable.extend(p.untestable);
                    }
                    all
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    // The probes between spaces (see `crate::cross_space`).
    let (cross_probes, cross) = crate::cross_space::plan(&spaces, &opts.topology, &opts.isolate);
    // Who answers for each address, and each subnet's gateway (see `crate::infra`).
    let mut infra = if opts.infrastructure {
        crate::infra::plan_items(provider, agents)
    } else {
        Vec::new()
    };
    if let Some(c) = &opts.controllers {
        infra.extend(crate::infra::controller_items(provider, agents, c));
    }
    // Each agent's list is allocated once at its final size: at 5,000 machines x 20 spaces
    // the doubling growth of 5,000 vectors was a third of the plan's memory.
    let mut counts = vec![0usize; agents.len()];
    for (agent, _) in produced
        .iter()
        .flat_map(|p| &p.probes)
        .chain(&cross_probes)
        .chain(&infra)
    {
        counts[*agent] += 1;
    }
    let mut per_agent: Vec<Vec<PlannedTarget>> =
        counts.into_iter().map(Vec::with_capacity).collect();
    let mut untestable = Vec::new();
    for part in produced {
        for (agent, t) in part.probes {
            per_agent[agent].push(t);
        }
        untestable.extend(part.untestable);
    }
    for (agent, t) in cross_probes.into_iter().chain(infra) {
        per_agent[agent].push(t);
    }
    // Ids are unique by construction; a repeat would only be the same probe twice.
    let mut probes = 0;
    for targets in &mut per_agent {
        dedup_ids(targets);
        probes += targets.len();
    }
    untestable.sort_by(|a: &Untestable, b: &Untestable| {
        (
            &a.space,
            &a.source_machine,
            a.source,
            a.target,
            &a.target_machine,
        )
            .cmp(&(
                &b.space,
                &b.source_machine,
                b.source,
                b.target,
                &b.target_machine,
            ))
    });
    untestable.dedup();
    let per_agent = agents
        .iter()
        .zip(per_agent)
        .map(|(a, targets)| {
            (
                a.agent_id.clone(),
                ProbePlan {
                    schema: PLAN_SCHEMA.to_string(),
                    agent: Some(a.agent_id.clone()),
                    settings: opts.settings.clone(),
                    targets,
                },
            )
        })
        .collect();
    CheckPlan {
        per_agent,
        probes,
        untestable,
        controllers: opts.controllers.clone(),
        cross,
    }
}

/// Keeps the first target of each id, in order (checked per agent on borrowed ids, so no id
/// is copied).
fn dedup_ids(targets: &mut Vec<PlannedTarget>) {
    let keep: Vec<bool> = {
        let mut seen: HashSet<&str> = HashSet::with_capacity(targets.len());
        targets.iter().map(|t| seen.insert(t.id.as_str())).collect()
    };
    if keep.iter().all(|k| *k) {
        return;
    }
    let mut keep = keep.into_iter();
    targets.retain(|_| keep.next().unwrap_or(true));
}

/// What one job produced: probes tagged with the source agent index, and untestable ones.
#[derive(Default)]
struct Planned {
    probes: Vec<(usize, PlannedTarget)>,
    untestable: Vec<Untestable>,
}

/// The probe id: unique per (space, source agent, target agent, source address, target
/// address, kind), so peers sharing an address still get one probe each.
pub fn probe_id(space: &str, s: &Endpoint, t: &Endpoint, expect: Expectation) -> String {
    let kind = match expect {
        Expectation::Reachable => "echo",
        Expectation::Isolated => "isolated",
    };
    let mut id = String::with_capacity(
        space.len()
            + s.agent_id.len()
            + t.agent_id.len()
            + s.addr_text.len()
            + t.addr_text.len()
            + 16,
    );
    id.push_str(space);
    id.push('/');
    id.push_str(&s.agent_id);
    id.push('>');
    id.push_str(&t.agent_id);
    id.push('/');
    id.push_str(&s.addr_text);
    id.push('>');
    id.push_str(&t.addr_text);
    id.push('/');
    id.push_str(kind);
    id
}

/// The probes of one space (or one isolated pair of spaces), tagged with the source agent.
fn plan_job(job: &Job<'_>, sides: &Sides, opts: &PlanOptions) -> Planned {
    let Job {
        space,
        ea,
        eb,
        expect,
        ..
    } = job;
    let make = |s: &Endpoint, t: &Endpoint| {
        (
            s.agent,
            PlannedTarget {
                id: probe_id(space, s, t, *expect),
                space: space.clone(),
                source: s.address,
                target: t.address,
                device: None,
                mtu: match expect {
                    Expectation::Reachable => Some(s.mtu.min(t.mtu)),
                    Expectation::Isolated => None,
                },
                tcp_ports: Vec::new(),
                target_machine: Some(t.name.clone()),
                expect: *expect,
                kind: Default::default(),
            },
        )
    };
    let skip = |s: &Endpoint, t: &Endpoint, reason: String| Untestable {
        space: space.clone(),
        source_machine: s.name.clone(),
        target_machine: t.name.clone(),
        source: s.address,
        target: t.address,
        reason,
    };
    let mut out = Planned::default();
    match expect {
        Expectation::Reachable => {
            let pairs = space_pairs(space, ea, eb, opts);
            out.probes.reserve_exact(pairs.len());
            for (s, t) in pairs {
                let (s, t) = (&ea[s], &ea[t]);
                match sides.self_target(s, t).or_else(|| sides.duplicated(s, t)) {
                    Some(reason) => out.untestable.push(skip(s, t, reason)),
                    None => out.probes.push(make(s, t)),
                }
            }
        }
        Expectation::Isolated => {
            let (side_a, side_b) = &job.sides;
            let mut used: HashSet<(usize, usize, bool)> = HashSet::new();
            let pairs = cross_pairs(space, ea, eb, opts);
            for &(s, t, forward) in &pairs {
                used.insert((s, t, forward));
            }
            for (s, t, forward) in pairs {
                // The prober's side, the target's side, and the target endpoints to pick from.
                let (src, tgt, side, others): (&Endpoint, &Endpoint, &str, &[Endpoint]) = if forward
                {
                    (&ea[s], &eb[t], side_a, eb)
                } else {
                    (&eb[t], &ea[s], side_b, ea)
                };
                let Some(reason) = sides.answered_locally(side, src, tgt) else {
                    out.probes.push(make(src, tgt));
                    continue;
                };
                // Another address of the same target machine on that side, not yet probed.
                let alt = others.iter().enumerate().find(|(i, o)| {
                    o.agent_id == tgt.agent_id
                        && o.address != tgt.address
                        && same_family(src, o)
                        && !used.contains(&if forward {
                            (s, *i, true)
                        } else {
                            (*i, t, false)
                        })
                        && sides.answered_locally(side, src, o).is_none()
                });
                match alt {
                    Some((i, o)) => {
                        used.insert(if forward { (s, i, true) } else { (i, t, false) });
                        out.probes.push(make(src, o));
                    }
                    None => out.untestable.push(skip(src, tgt, reason)),
                }
            }
        }
    }
    out
}

/// A hasher for index pairs (a multiply-shift mix; the keys are small integers, not input).
#[derive(Default)]
struct PairHasher(u64);

impl std::hash::Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, i: usize) {
        self.0 = (self.0.rotate_left(32) ^ i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type PairSet = HashSet<(usize, usize), std::hash::BuildHasherDefault<PairHasher>>;

fn same_family(a: &Endpoint, b: &Endpoint) -> bool {
    a.address.is_ipv4() == b.address.is_ipv4()
}

/// Ordered (source, target) index pairs within one space.
fn space_pairs(
    space: &str,
    eps: &[Endpoint],
    _: &[Endpoint],
    opts: &PlanOptions,
) -> Vec<(usize, usize)> {
    let n = eps.len();
    let mut out = Vec::new();
    if n <= opts.full_mesh_max {
        for s in 0..n {
            for t in 0..n {
                if eps[s].agent_id != eps[t].agent_id && same_family(&eps[s], &eps[t]) {
                    out.push((s, t));
                }
            }
        }
        return out;
    }
    let k = opts.k.max(1);
    let ring = ring_order(space, eps);
    let mut chosen: PairSet = PairSet::with_capacity_and_hasher(4 * k * n, Default::default());
    let push = |chosen: &mut PairSet, out: &mut Vec<(usize, usize)>, s: usize, t: usize| {
        if chosen.insert((s, t)) {
            out.push((s, t));
        }
        if chosen.insert((t, s)) {
            out.push((t, s));
        }
    };
    for (pos, &s) in ring.iter().enumerate() {
        let mut taken = 0;
        let mut step = 1;
        while taken < k && step < n {
            let t = ring[(pos + step) % n];
            step += 1;
            if eps[s].agent_id == eps[t].agent_id || !same_family(&eps[s], &eps[t]) {
                continue;
            }
            push(&mut chosen, &mut out, s, t);
            taken += 1;
        }
    }
    // Subnet-pair coverage.
    let mut by_subnet: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for &i in &ring {
        by_subnet.entry(eps[i].subnet_id).or_default().push(i);
    }
    let mut count: BTreeMap<(i64, i64), usize> = BTreeMap::new();
    for &(s, t) in &out {
        *count
            .entry((eps[s].subnet_id, eps[t].subnet_id))
            .or_default() += 1;
    }
    for (&si, sm) in &by_subnet {
        for (&ti, tm) in &by_subnet {
            let have = count.get(&(si, ti)).copied().unwrap_or(0);
            if have >= k {
                continue;
            }
            let mut need = k - have;
            // Walk S × T by diagonals so the extra probes spread over both subnets.
            'walk: for d in 0..tm.len() {
                for (j, &s) in sm.iter().enumerate() {
                    if need == 0 {
                        break 'walk;
                    }
                    let t = tm[(j + d) % tm.len()];
                    if s == t
                        || eps[s].agent_id == eps[t].agent_id
                        || !same_family(&eps[s], &eps[t])
                    {
                        continue;
                    }
                    if !chosen.contains(&(s, t)) {
                        push(&mut chosen, &mut out, s, t);
                        *count.entry((si, ti)).or_default() += 1;
                        if si != ti {
                            *count.entry((ti, si)).or_default() += 1;
                        }
                        need -= 1;
                    }
                }
            }
        }
    }
    out
}

/// Ring order of endpoints: indices sorted by hash of (space, agent, address).
fn ring_order(space: &str, eps: &[Endpoint]) -> Vec<usize> {
    let mut keyed: Vec<(u64, usize)> = eps
        .iter()
        .enumerate()
        .map(|(i, e)| {
            (
                fnv1a(&[
                    space.as_bytes(),
                    e.agent_id.as_bytes(),
                    e.addr_text.as_bytes(),
                ]),
                i,
            )
        })
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// Pairs between two spaces for isolation probes: (index in a, index in b, a→b?).
fn cross_pairs(
    name: &str,
    ea: &[Endpoint],
    eb: &[Endpoint],
    opts: &PlanOptions,
) -> Vec<(usize, usize, bool)> {
    let mut out = Vec::new();
    let ok = |s: &Endpoint, t: &Endpoint| s.agent_id != t.agent_id && same_family(s, t);
    if ea.len().max(eb.len()) <= opts.full_mesh_max {
        for (s, se) in ea.iter().enumerate() {
            for (t, te) in eb.iter().enumerate() {
                if ok(se, te) {
                    out.push((s, t, true));
                    out.push((s, t, false));
                }
            }
        }
        return out;
    }
    let k = opts.k.max(1);
    let ra = ring_order(name, ea);
    let rb = ring_order(name, eb);
    let mut chosen = HashSet::new();
    for (pos, &s) in ra.iter().enumerate() {
        let mut taken = 0;
        let mut step = 0;
        while taken < k && step < rb.len() {
            let t = rb[(pos + step) % rb.len()];
            step += 1;
            if ok(&ea[s], &eb[t]) && chosen.insert((s, t)) {
                out.push((s, t, true));
                out.push((s, t, false));
                taken += 1;
            }
        }
    }
    for (pos, &t) in rb.iter().enumerate() {
        let mut taken = 0;
        let mut step = 0;
        while taken < k && step < ra.len() {
            let s = ra[(pos + step) % ra.len()];
            step += 1;
            if !ok(&ea[s], &eb[t]) {
                continue;
            }
            if chosen.insert((s, t)) {
                out.push((s, t, true));
                out.push((s, t, false));
            }
            taken += 1;
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::merge::AgentAddress;
    use preflight_model::provider::Space;

    pub(crate) fn agent(id: usize, addrs: &[(i64, i64, &str)]) -> MergedAgent {
        MergedAgent {
            agent_id: format!("a{id:05}"),
            name: format!("node{id}"),
            system_id: None,
            resolvers: Vec::new(),
            addresses: addrs
                .iter()
                .map(|(space, subnet, ip)| AgentAddress {
                    address: ip.parse().unwrap(),
                    link: "eth0".into(),
                    subnet_id: *subnet,
                    space_id: *space,
                    vlan_mtu: if *space == 2 { 9000 } else { 1500 },
                })
                .collect(),
        }
    }

    /// Echo probes only: the infrastructure probes have their own tests (crate::infra).
    pub(crate) fn echo_only() -> PlanOptions {
        PlanOptions {
            infrastructure: false,
            ..PlanOptions::default()
        }
    }

    pub(crate) fn spaces(n: i64) -> ProviderModel {
        let mut p = ProviderModel::default();
        for id in 1..=n {
            p.spaces.insert(
                id,
                Space {
                    id,
                    name: format!("sp{id}"),
                    description: None,
                },
            );
        }
        p
    }

    /// `n` agents, each in `spaces` spaces, spread over `subnets` subnets per space.
    pub(crate) fn many(n: usize, nspaces: i64, subnets: i64) -> Vec<MergedAgent> {
        (0..n)
            .map(|i| {
                let addrs: Vec<(i64, i64, String)> = (1..=nspaces)
                    .map(|s| {
                        let sub = s * 100 + (i as i64 % subnets);
                        (s, sub, format!("10.{}.{}.{}", s, i / 250, i % 250 + 1))
                    })
                    .collect();
                let refs: Vec<(i64, i64, &str)> =
                    addrs.iter().map(|(a, b, c)| (*a, *b, c.as_str())).collect();
                agent(i, &refs)
            })
            .collect()
    }

    #[test]
    fn a_repeated_id_keeps_its_first_target_and_the_order() {
        let t = |id: &str, port: u16| PlannedTarget {
            id: id.into(),
            space: "s".into(),
            source: "10.0.0.1".parse().unwrap(),
            target: "10.0.0.2".parse().unwrap(),
            device: None,
            mtu: None,
            tcp_ports: vec![port],
            target_machine: None,
            expect: Expectation::Reachable,
            kind: preflight_model::plan::ProbeKind::Echo,
        };
        let mut v = vec![t("a", 1), t("b", 2), t("a", 3), t("c", 4), t("b", 5)];
        dedup_ids(&mut v);
        let got: Vec<(&str, u16)> = v.iter().map(|x| (x.id.as_str(), x.tcp_ports[0])).collect();
        assert_eq!(got, [("a", 1), ("b", 2), ("c", 4)]);
        let mut unique = vec![t("x", 1), t("y", 2)];
        dedup_ids(&mut unique);
        assert_eq!(unique.len(), 2);
    }

    fn all_targets(p: &CheckPlan) -> Vec<PlannedTarget> {
        p.per_agent
            .values()
            .flat_map(|x| x.targets.clone())
            .collect()
    }

    #[test]
    fn plans_past_the_agents_packet_cap_are_named() {
        let target = |i: u32| PlannedTarget {
            id: format!("t{i}"),
            space: "s".into(),
            source: "10.0.0.1".parse().unwrap(),
            target: "10.0.0.2".parse().unwrap(),
            device: None,
            mtu: None,
            tcp_ports: vec![],
            target_machine: None,
            expect: Default::default(),
            kind: Default::default(),
        };
        let plan = |count: u32, n: u32| ProbePlan {
            schema: preflight_model::plan::PLAN_SCHEMA.into(),
            agent: None,
            settings: ProbeSettings {
                count,
                retries: 1,
                ..ProbeSettings::default()
            },
            targets: (0..n).map(target).collect(),
        };
        let mut p = CheckPlan::default();
        p.per_agent.insert("small".into(), plan(3, 100));
        p.per_agent.insert("big".into(), plan(1000, 1001));
        let w = p.over_agent_caps();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("agent big asks for 2002000"), "{w:?}");
    }

    #[test]
    fn full_mesh_both_directions_from_own_space_address_with_vlan_mtu() {
        let p = spaces(2);
        let agents = vec![
            agent(1, &[(1, 10, "10.1.0.1"), (2, 20, "10.2.0.1")]),
            agent(2, &[(1, 11, "10.1.1.2"), (2, 20, "10.2.0.2")]),
            agent(3, &[(1, 10, "10.1.0.3")]),
        ];
        let plan = build_plan(&p, &agents, &echo_only());
        // sp1: 3 agents → 6 probes (across subnets 10 and 11 too); sp2: 2 agents → 2 probes.
        assert_eq!(plan.probes, 8);
        let t = all_targets(&plan);
        let ids: HashSet<&str> = t.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(ids.len(), 8, "ids are unique");
        let a1 = &plan.per_agent["a00001"];
        assert!(a1.targets.iter().any(|x| x.space == "sp1"
            && x.source.to_string() == "10.1.0.1"
            && x.target.to_string() == "10.1.1.2"
            && x.mtu == Some(1500)));
        assert!(a1.targets.iter().any(|x| x.space == "sp2"
            && x.source.to_string() == "10.2.0.1"
            && x.target.to_string() == "10.2.0.2"
            && x.mtu == Some(9000)));
        let a2 = &plan.per_agent["a00002"];
        assert!(a2
            .targets
            .iter()
            .any(|x| x.source.to_string() == "10.1.1.2" && x.target.to_string() == "10.1.0.1"));
        // every probe's source is an address of the probing agent in that space
        for (id, pp) in &plan.per_agent {
            let ag = agents.iter().find(|a| &a.agent_id == id).unwrap();
            for x in &pp.targets {
                assert!(ag.addresses.iter().any(|a| a.address == x.source));
                assert_eq!(x.expect, Expectation::Reachable);
            }
        }
    }

    #[test]
    fn isolation_probes_both_directions_expected_isolated() {
        let p = spaces(2);
        let agents = vec![
            agent(1, &[(1, 10, "10.1.0.1")]),
            agent(2, &[(2, 20, "10.2.0.2")]),
            agent(3, &[(1, 10, "10.1.0.3"), (2, 20, "10.2.0.3")]),
        ];
        let opts = PlanOptions {
            isolate: vec![("sp1".into(), "sp2".into()), ("sp2".into(), "sp1".into())],
            ..echo_only()
        };
        let plan = build_plan(&p, &agents, &opts);
        let iso: Vec<PlannedTarget> = all_targets(&plan)
            .into_iter()
            .filter(|t| t.expect == Expectation::Isolated)
            .collect();
        let pairs: BTreeSet<(String, String)> = iso
            .iter()
            .map(|t| (t.source.to_string(), t.target.to_string()))
            .collect();
        // sp1 {1, 3} × sp2 {2, 3}, minus same-machine (3,3): (1,2), (1,3), (3,2), each both ways; duplicate flag ignored
        let want: BTreeSet<(String, String)> = [
            ("10.1.0.1", "10.2.0.2"),
            ("10.2.0.2", "10.1.0.1"),
            ("10.1.0.1", "10.2.0.3"),
            ("10.2.0.3", "10.1.0.1"),
            ("10.1.0.3", "10.2.0.2"),
            ("10.2.0.2", "10.1.0.3"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(pairs, want);
        assert_eq!(iso.len(), 6);
        assert!(iso
            .iter()
            .all(|t| t.space == "isolate:sp1:sp2" && t.mtu.is_none()));
    }

    fn check_sparse_coverage(
        agents: &[MergedAgent],
        p: &ProviderModel,
        opts: &PlanOptions,
    ) -> CheckPlan {
        let plan = build_plan(p, agents, opts);
        let k = opts.k;
        let mut out_deg: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut in_deg: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut subnet_pairs: BTreeMap<(String, i64, i64), usize> = BTreeMap::new();
        let subnet_of: BTreeMap<IpAddr, i64> = agents
            .iter()
            .flat_map(|a| a.addresses.iter().map(|x| (x.address, x.subnet_id)))
            .collect();
        let mut directed: HashSet<(IpAddr, IpAddr)> = HashSet::new();
        for (id, pp) in &plan.per_agent {
            for t in &pp.targets {
                *out_deg.entry((t.space.clone(), id.clone())).or_default() += 1;
                *in_deg
                    .entry((t.space.clone(), t.target_machine.clone().unwrap()))
                    .or_default() += 1;
                *subnet_pairs
                    .entry((t.space.clone(), subnet_of[&t.source], subnet_of[&t.target]))
                    .or_default() += 1;
                assert!(directed.insert((t.source, t.target)), "no duplicate probe");
            }
        }
        for (s, t) in &directed {
            assert!(directed.contains(&(*t, *s)), "every pair probed both ways");
        }
        let eps = endpoints_by_space(p, agents);
        let mut per_space_probes: BTreeMap<&str, usize> = BTreeMap::new();
        for (id, pp) in &plan.per_agent {
            let _ = id;
            for t in &pp.targets {
                *per_space_probes.entry(t.space.as_str()).or_default() += 1;
            }
        }
        for (space, e) in &eps {
            let subnets: BTreeSet<i64> = e.iter().map(|x| x.subnet_id).collect();
            for x in e {
                assert!(
                    out_deg
                        .get(&(space.clone(), x.agent_id.clone()))
                        .copied()
                        .unwrap_or(0)
                        >= k,
                    "{} out",
                    x.agent_id
                );
                assert!(
                    in_deg
                        .get(&(space.clone(), x.name.clone()))
                        .copied()
                        .unwrap_or(0)
                        >= k,
                    "{} in",
                    x.name
                );
            }
            for s in &subnets {
                for t in &subnets {
                    let possible = e
                        .iter()
                        .filter(|x| x.subnet_id == *s)
                        .flat_map(|x| {
                            e.iter()
                                .filter(move |y| y.subnet_id == *t && y.agent_id != x.agent_id)
                        })
                        .count();
                    assert!(
                        subnet_pairs
                            .get(&(space.clone(), *s, *t))
                            .copied()
                            .unwrap_or(0)
                            >= k.min(possible),
                        "subnet pair {s}->{t}"
                    );
                }
            }
            let n = e.len();
            let sn = subnets.len();
            let probes = per_space_probes[space.as_str()];
            assert!(
                probes <= 2 * k * n + 2 * k * sn * sn,
                "bound: {probes} for n={n}"
            );
            assert!(probes >= k * n);
        }
        plan
    }

    #[test]
    fn sparse_plan_covers_every_machine_and_subnet_pair_within_the_bound() {
        let p = spaces(3);
        let agents = many(300, 3, 4);
        let opts = PlanOptions {
            full_mesh_max: 50,
            k: 3,
            ..echo_only()
        };
        let plan = check_sparse_coverage(&agents, &p, &opts);
        assert!(
            plan.probes < 300 * 299 * 3 / 10,
            "sparse is much smaller than the mesh"
        );
    }

    #[test]
    fn sparse_plan_covers_a_small_subnet_among_a_big_one() {
        let p = spaces(1);
        let mut agents = many(200, 1, 1);
        // two agents alone in subnet 999 of the same space
        agents.push(agent(1000, &[(1, 999, "10.9.0.1")]));
        agents.push(agent(1001, &[(1, 999, "10.9.0.2")]));
        let opts = PlanOptions {
            full_mesh_max: 20,
            k: 4,
            ..echo_only()
        };
        check_sparse_coverage(&agents, &p, &opts);
    }

    #[test]
    fn plan_is_deterministic_and_independent_of_input_order() {
        let p = spaces(2);
        let agents = many(120, 2, 3);
        let opts = PlanOptions {
            full_mesh_max: 10,
            ..echo_only()
        };
        let a = build_plan(&p, &agents, &opts);
        let mut rev = agents.clone();
        rev.reverse();
        let b = build_plan(&p, &rev, &opts);
        for (id, pa) in &a.per_agent {
            let mut x: Vec<&str> = pa.targets.iter().map(|t| t.id.as_str()).collect();
            let mut y: Vec<&str> = b.per_agent[id]
                .targets
                .iter()
                .map(|t| t.id.as_str())
                .collect();
            x.sort();
            y.sort();
            assert_eq!(x, y);
        }
    }

    fn with_subnet(p: &mut ProviderModel, id: i64, space: i64, cidr: &str) {
        p.subnets.insert(
            id,
            preflight_model::provider::Subnet {
                id,
                name: cidr.into(),
                cidr: cidr.parse().unwrap(),
                vlan_id: id,
                space_id: Some(space),
                gateway: None,
                managed: true,
                dns_servers: Vec::new(),
            },
        );
    }

    #[test]
    fn reused_address_gives_unique_ids_and_no_self_probe() {
        let p = spaces(1);
        // node1 and node2 both hold 10.1.0.5, in two subnets of one space (two fabrics);
        // node3 is in node1's subnet.
        let agents = vec![
            agent(1, &[(1, 10, "10.1.0.5")]),
            agent(2, &[(1, 11, "10.1.0.5")]),
            agent(3, &[(1, 10, "10.1.0.3")]),
        ];
        let plan = build_plan(&p, &agents, &echo_only());
        for pp in plan.per_agent.values() {
            let ids: HashSet<&str> = pp.targets.iter().map(|t| t.id.as_str()).collect();
            assert_eq!(ids.len(), pp.targets.len(), "ids unique per plan");
        }
        // node3 probes both holders of 10.1.0.5: two probes, two ids, two target machines.
        let a3 = &plan.per_agent["a00003"];
        let to_dup: Vec<&PlannedTarget> = a3
            .targets
            .iter()
            .filter(|t| t.target.to_string() == "10.1.0.5")
            .collect();
        assert_eq!(to_dup.len(), 2);
        assert_ne!(to_dup[0].id, to_dup[1].id);
        assert_ne!(to_dup[0].target_machine, to_dup[1].target_machine);
        // node1 never "probes" node2 at 10.1.0.5 from 10.1.0.5: that would be itself.
        for id in ["a00001", "a00002"] {
            assert!(plan.per_agent[id]
                .targets
                .iter()
                .all(|t| t.source != t.target));
            assert_eq!(plan.per_agent[id].targets.len(), 1, "only node3");
        }
        assert_eq!(plan.untestable.len(), 2, "{:?}", plan.untestable);
        assert!(plan
            .untestable
            .iter()
            .all(|u| u.reason.contains("own address") && u.target.to_string() == "10.1.0.5"));
        assert_eq!(plan.probes, 4);
    }

    #[test]
    fn duplicate_address_in_one_subnet_is_untestable_and_the_rest_is_planned() {
        let p = spaces(1);
        let agents = vec![
            agent(1, &[(1, 10, "10.1.0.5")]),
            agent(2, &[(1, 10, "10.1.0.5")]),
            agent(3, &[(1, 10, "10.1.0.3")]),
            agent(4, &[(1, 10, "10.1.0.4")]),
        ];
        let plan = build_plan(&p, &agents, &echo_only());
        // Only node3 <-> node4 is meaningful.
        let pairs: BTreeSet<(String, String)> = all_targets(&plan)
            .iter()
            .map(|t| (t.source.to_string(), t.target.to_string()))
            .collect();
        let want: BTreeSet<(String, String)> = [("10.1.0.3", "10.1.0.4"), ("10.1.0.4", "10.1.0.3")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(pairs, want);
        assert!(plan
            .untestable
            .iter()
            .any(|u| u.reason.contains("address.duplicate") && u.source_machine == "node3"));
        // With the infrastructure probes, every machine still asks who holds its address.
        let full = build_plan(&p, &agents, &PlanOptions::default());
        for id in ["a00001", "a00002", "a00003", "a00004"] {
            assert!(full.per_agent[id]
                .targets
                .iter()
                .any(|t| t.kind == preflight_model::plan::ProbeKind::Neighbour
                    && t.source == t.target));
        }
    }

    #[test]
    fn isolation_under_address_reuse_is_untestable_unless_another_address_exists() {
        // Two tenants on separate fabrics reuse 10.0.0.0/24 (subnets 10 and 20); tenant b's
        // node4 also has a unique address in b (subnet 21).
        let mut p = spaces(2);
        with_subnet(&mut p, 10, 1, "10.0.0.0/24");
        with_subnet(&mut p, 20, 2, "10.0.0.0/24");
        with_subnet(&mut p, 21, 2, "10.9.0.0/24");
        let agents = vec![
            agent(1, &[(1, 10, "10.0.0.11")]),
            agent(2, &[(1, 10, "10.0.0.12")]),
            agent(3, &[(2, 20, "10.0.0.11")]),
            agent(4, &[(2, 20, "10.0.0.12"), (2, 21, "10.9.0.4")]),
        ];
        let opts = PlanOptions {
            isolate: vec![("sp1".into(), "sp2".into())],
            ..echo_only()
        };
        let plan = build_plan(&p, &agents, &opts);
        let iso: Vec<PlannedTarget> = all_targets(&plan)
            .into_iter()
            .filter(|t| t.expect == Expectation::Isolated)
            .collect();
        // Only probes into node4's unique address remain (from node1 and node2); nothing
        // targets a 10.0.0.x address from the other tenant, whose own side would answer.
        let pairs: BTreeSet<(String, String)> = iso
            .iter()
            .map(|t| (t.source.to_string(), t.target.to_string()))
            .collect();
        let want: BTreeSet<(String, String)> =
            [("10.0.0.11", "10.9.0.4"), ("10.0.0.12", "10.9.0.4")]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
        assert_eq!(pairs, want);
        assert!(!plan.untestable.is_empty());
        assert!(plan
            .untestable
            .iter()
            .all(|u| u.reason.contains("on-link") || u.reason.contains("own address")));
        // node4 → node1 (10.0.0.11 in sp1) from 10.9.0.4 is still answered locally: 10.0.0.11
        // is on-link for node4 through its 10.0.0.12/24.
        assert!(plan
            .untestable
            .iter()
            .any(|u| u.source_machine == "node4" && u.target.to_string() == "10.0.0.11"));
        // Without reuse the same layout plans every isolation probe.
        let mut q = spaces(2);
        with_subnet(&mut q, 10, 1, "10.0.0.0/24");
        with_subnet(&mut q, 20, 2, "10.1.0.0/24");
        let agents = vec![
            agent(1, &[(1, 10, "10.0.0.11")]),
            agent(3, &[(2, 20, "10.1.0.11")]),
        ];
        let plan = build_plan(&q, &agents, &opts);
        assert!(plan.untestable.is_empty());
        assert_eq!(plan.probes, 2);
    }

    #[test]
    fn sparse_isolation_covers_both_spaces() {
        let p = spaces(2);
        let agents: Vec<MergedAgent> = (0..80)
            .map(|i| {
                let ip = format!("10.{}.0.{}", 1 + i % 2, i + 1);
                agent(i, &[((1 + i % 2) as i64, (1 + i % 2) as i64, ip.as_str())])
            })
            .collect();
        let opts = PlanOptions {
            full_mesh_max: 10,
            k: 2,
            isolate: vec![("sp1".into(), "sp2".into())],
            ..echo_only()
        };
        let plan = build_plan(&p, &agents, &opts);
        let mut out: BTreeMap<String, usize> = BTreeMap::new();
        for (id, pp) in &plan.per_agent {
            for _ in pp
                .targets
                .iter()
                .filter(|t| t.expect == Expectation::Isolated)
            {
                *out.entry(id.clone()).or_default() += 1;
            }
        }
        assert_eq!(
            out.len(),
            80,
            "every machine probes across the isolation boundary"
        );
        assert!(out.values().all(|&c| c >= 2));
    }
}
