//! The namespace lab: builds hosts, switches, routers and faults as real network namespaces
//! (used by `preflight demo` and the end-to-end tests), and writes the matching MAAS snapshot.
//!
//! One topology file gives both the intent (the MAAS snapshot, [`Lab::maas_snapshot`]) and
//! the reality (the namespaces, with the faults applied by [`Lab::apply_faults`]).
//! [`supervise`] runs the real binaries in it.

#![recursion_limit = "256"]

pub mod dns;
pub mod expect;
pub mod lab;
pub mod netns;
pub mod ping;
pub mod scenarios;
pub mod snapshot;
pub mod supervise;
pub mod topology;

pub use lab::{Lab, LabError, LabHost};
pub use topology::{Fault, Topology, TopologyError};
