//! What every rule reads (the provider, the candidate machines, the MAAS space names) and
//! writes (findings and evaluated checks).

use std::collections::{BTreeMap, BTreeSet};

use preflight_model::provider::ProviderModel;
use preflight_model::report::{Checked, Code, Finding, Severity, Subject};

use crate::candidates::Cand;
use crate::ValidateOutcome;

/// The subject "application `app`".
pub(crate) fn subject_app(app: &str) -> Subject {
    Subject {
        application: Some(app.to_string()),
        ..Subject::default()
    }
}

/// The rules' shared context.
pub(crate) struct Cx<'a> {
    pub provider: &'a ProviderModel,
    pub cands: Vec<Cand<'a>>,
    /// The MAAS statuses whose machines count (see [`crate::Machines`]).
    pub statuses: &'static [&'static str],
    /// Space names as Juju knows them (its ConvertSpaceName of the MAAS names).
    pub space_names: BTreeSet<&'a str>,
    /// MAAS space id by Juju space name.
    pub space_ids: BTreeMap<&'a str, i64>,
    /// `placement.missing-space` warnings on unpinned bundle machines that the capacity
    /// matching may show to be certain: (finding index, bundle machine, space).
    pub maybe_missing: Vec<(usize, String, String)>,
    pub out: ValidateOutcome,
}

impl Cx<'_> {
    /// Records that `check` was evaluated on `subject`.
    pub(crate) fn checked(&mut self, check: Code, subject: Subject) {
        self.out.checked.push(Checked { check, subject });
    }

    /// Records a finding.
    pub(crate) fn finding(
        &mut self,
        code: Code,
        severity: Severity,
        subject: Subject,
        message: String,
        hint: Option<String>,
    ) {
        self.out.findings.push(Finding {
            code,
            severity,
            subject,
            message,
            hint,
        });
    }

    /// The MAAS name of a space Juju knows as `juju` (the same name when Juju kept it).
    pub(crate) fn maas_name<'s>(&'s self, juju: &'s str) -> &'s str {
        self.space_ids
            .get(juju)
            .and_then(|id| self.provider.spaces.get(id))
            .map(|s| s.name.as_str())
            .unwrap_or(juju)
    }

    /// Whether Juju will know a space with this name.
    pub(crate) fn space_known(&self, s: &str) -> bool {
        self.space_names.contains(s)
    }
}
