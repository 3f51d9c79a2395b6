//! The dialogs of the token page by name: what a `data-dialog` link opens
//! and what a dialog's form (`data-kind`) submits.

/// A dialog of the token page, as its links (`data-dialog`) and forms
/// (`data-kind`) name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialog {
    /// The add form (opened).
    New,
    /// The add form (submitted; the form is made on the server).
    #[cfg_attr(not(feature = "ssr"), allow(dead_code))]
    Create,
    /// The edit form.
    Edit,
    /// The revoke confirmation.
    Revoke,
    /// The new-secret confirmation.
    Regenerate,
    /// The derive confirmation.
    Derive,
    /// The revoke-all confirmation.
    RevokeAll,
}

impl Dialog {
    /// Every dialog.
    pub const ALL: [Dialog; 7] = [
        Dialog::New,
        Dialog::Create,
        Dialog::Edit,
        Dialog::Revoke,
        Dialog::Regenerate,
        Dialog::Derive,
        Dialog::RevokeAll,
    ];

    /// The name in links and forms (`new`, `revoke-all`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Dialog::New => "new",
            Dialog::Create => "create",
            Dialog::Edit => "edit",
            Dialog::Revoke => "revoke",
            Dialog::Regenerate => "regenerate",
            Dialog::Derive => "derive",
            Dialog::RevokeAll => "revoke-all",
        }
    }

    /// The dialog named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Dialog> {
        Dialog::ALL.into_iter().find(|d| d.as_str() == name)
    }
}
