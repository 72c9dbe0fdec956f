//! `bundle.unknown-key`, `bundle.deprecated`, `bundle.ignored-field`, `charm.duplicate-key`,
//! `charm.unused`: what reading the bundle and the charm metadata warned about, as findings, so
//! that every report format carries them (not only stderr).

use preflight_bundle::{Bundle, CharmSet, Warning, WarningKind};
use preflight_model::report::{Checked, Code, Finding, Severity, Subject};

use crate::cx::Cx;

/// The reading warnings of the bundle (and of the charm metadata, with `charms`) as findings.
pub(crate) fn reading_warnings(cx: &mut Cx<'_>, bundle: &Bundle, charms: Option<&CharmSet>) {
    let warnings: Vec<Warning> = bundle
        .warnings
        .iter()
        .cloned()
        .chain(charms.map(|c| c.warnings(bundle)).unwrap_or_default())
        .collect();
    let (found, checked) = findings(&warnings, charms.is_some());
    cx.out.findings.extend(found);
    cx.out.checked.extend(checked);
}

/// The finding code of a reading warning.
pub(crate) fn code_of(kind: WarningKind) -> Code {
    match kind {
        WarningKind::UnknownKey => Code::BundleUnknownKey,
        WarningKind::Deprecated => Code::BundleDeprecated,
        WarningKind::IgnoredField => Code::BundleIgnoredField,
        WarningKind::DuplicateKey => Code::CharmDuplicateKey,
        WarningKind::UnusedCharm => Code::CharmUnused,
    }
}

fn hint_of(kind: WarningKind) -> &'static str {
    match kind {
        WarningKind::UnknownKey => "check the key's spelling: Juju ignores keys it does not know",
        WarningKind::Deprecated => {
            "use the current form (applications:, a Charmhub name with a channel)"
        }
        WarningKind::IgnoredField => {
            "give the field the type Juju expects (e.g. `to:` is a list), or remove it"
        }
        WarningKind::DuplicateKey => {
            "remove the earlier duplicate so the metadata says what Juju reads"
        }
        WarningKind::UnusedCharm => {
            "point --charm-dir at the charms the bundle deploys, or check the charm's name"
        }
    }
}

/// The findings for reading warnings (each message names file:line:column), plus a checked
/// entry per code so that passing reports list these checks too.
pub(crate) fn findings(warnings: &[Warning], with_charms: bool) -> (Vec<Finding>, Vec<Checked>) {
    let mut kinds = vec![
        WarningKind::UnknownKey,
        WarningKind::Deprecated,
        WarningKind::IgnoredField,
    ];
    if with_charms {
        kinds.extend([WarningKind::DuplicateKey, WarningKind::UnusedCharm]);
    }
    let checked = kinds
        .into_iter()
        .map(|k| Checked {
            check: code_of(k),
            subject: Subject::default(),
        })
        .collect();
    let findings = warnings
        .iter()
        .map(|w| Finding {
            code: code_of(w.kind),
            severity: Severity::Warning,
            subject: Subject {
                application: w.application.clone(),
                ..Subject::default()
            },
            message: w.to_string(),
            hint: Some(hint_of(w.kind).to_string()),
        })
        .collect();
    (findings, checked)
}
