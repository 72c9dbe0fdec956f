//! Constraint rules: `constraint.space-conflict` and `constraint.unsatisfiable`.

use std::collections::BTreeMap;

use preflight_bundle::Application;
use preflight_model::report::{Code, Severity, Subject};

use crate::candidates::{endpoint_list, Filtered};
use crate::cx::{subject_app, Cx};
use crate::CANDIDATE_STATUSES;

/// `constraint.space-conflict`: an application's `spaces=^x` must not exclude a space its
/// bindings use (`by_space`: space → endpoints bound there).
pub(crate) fn space_conflict(
    cx: &mut Cx<'_>,
    name: &str,
    app: &Application,
    by_space: &BTreeMap<String, Vec<String>>,
) {
    cx.checked(Code::ConstraintSpaceConflict, subject_app(name));
    for (sp, eps) in by_space {
        if app.constraints.not_spaces.contains(sp) {
            cx.finding(
                Code::ConstraintSpaceConflict,
                Severity::Error,
                Subject {
                    application: Some(name.to_string()),
                    space: Some(sp.clone()),
                    ..Subject::default()
                },
                format!(
                    "{name}'s constraints exclude space {sp:?} (spaces=^{sp}) but it binds {} there",
                    endpoint_list(eps)
                ),
                Some(format!(
                    "remove ^{sp} from {name}'s spaces constraint or bind those endpoints elsewhere"
                )),
            );
        }
    }
}

/// What `constraint.unsatisfiable` is evaluated on.
pub(crate) enum Demand<'a> {
    /// A bundle machine (not pinned by `--machine-map`), with its constraints as written.
    BundleMachine {
        /// Bundle machine number.
        id: &'a str,
        /// Its constraints string.
        constraints: &'a str,
    },
    /// An application's units on new machines (constraints plus the bound spaces).
    NewMachines {
        /// Application name.
        name: &'a str,
        /// Units that need a new machine.
        units: u32,
    },
}

/// `constraint.unsatisfiable`: some candidate machine must pass every constraint term of the
/// demand. Records the check; reports when `f` (the candidates filtered through the demand's
/// terms) left nothing.
pub(crate) fn unsatisfiable(cx: &mut Cx<'_>, demand: Demand<'_>, f: &Filtered) {
    let subject = match demand {
        Demand::BundleMachine { id, .. } => Subject {
            machine: Some(id.to_string()),
            ..Subject::default()
        },
        Demand::NewMachines { name, .. } => subject_app(name),
    };
    cx.checked(Code::ConstraintUnsatisfiable, subject.clone());
    if !f.pass.is_empty() {
        return;
    }
    let eliminator = f.eliminator();
    let why = match eliminator {
        Some((before, label)) => format!("{label} eliminated the last {before} candidate(s)"),
        None => format!("MAAS has no machine in {}", CANDIDATE_STATUSES.join(", ")),
    };
    let (message, hint) = match demand {
        Demand::BundleMachine { id, constraints } => (
            format!(
                "no MAAS machine satisfies bundle machine {id}'s constraints {constraints:?}: {why} ({})",
                f.explain()
            ),
            format!(
                "relax machine {id}'s constraints, add a matching machine to MAAS, or pin it with --machine-map {id}=SYSTEM_ID"
            ),
        ),
        Demand::NewMachines { name, units } => (
            format!(
                "no MAAS machine can host {name} ({units} unit(s) on new machines): {why} ({})",
                f.explain()
            ),
            match eliminator {
                Some((_, label)) => format!(
                    "relax {label}, or add MAAS machines that satisfy every constraint and have the bound spaces"
                ),
                None => "commission machines in MAAS first".to_string(),
            },
        ),
    };
    cx.finding(
        Code::ConstraintUnsatisfiable,
        Severity::Error,
        subject,
        message,
        Some(hint),
    );
}
