//! What every rule reads (the provider, the candidate machines, the MAAS space names) and
//! writes (findings and evaluated checks).

use std::collections::BTreeSet;

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
    pub space_names: BTreeSet<&'a str>,
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

    /// Whether MAAS has a space with this name.
    pub(crate) fn space_known(&self, s: &str) -> bool {
        self.space_names.contains(s)
    }
}
