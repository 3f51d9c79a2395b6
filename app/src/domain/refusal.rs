//! How a refused request is shown on a page: the status, the sentences
//! (for the form or under a field), `Retry-After`, and whether it is a
//! failure of ours to be logged. Each service error says it once, next to
//! itself (`impl From<…Error> for Refusal`); the browser layer renders any
//! of them with one function (`browser::pages::refuse`).

use crate::model::FormFeedback;
use crate::tokens::FieldErrors;
use http::StatusCode;
use std::collections::BTreeMap;

/// What a person sees when the failure is ours.
pub const OUR_SIDE: &str = "Something went wrong on our side. Please try again.";

/// What a person sees while the password hashers are all taken.
pub const BUSY: &str = "The server is busy right now. Please try again in a few seconds.";

/// A refused request, as any page answers it.
#[derive(Debug)]
pub struct Refusal {
    /// The HTTP status of the answer.
    pub status: StatusCode,
    /// Seconds to wait before trying again, when it applies.
    pub retry_after: Option<u64>,
    /// A failure of ours: this is logged; the person sees [`OUR_SIDE`].
    pub internal: Option<String>,
    /// The sentence for the whole form.
    pub message: Option<String>,
    /// Field name → sentence.
    pub fields: FieldErrors,
    /// What was typed, when the service kept it (it replaces the page's).
    pub values: Option<BTreeMap<String, String>>,
}

impl Refusal {
    /// A refusal with `status` and a sentence for the whole form.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            retry_after: None,
            internal: None,
            message: Some(message.into()),
            fields: FieldErrors::new(),
            values: None,
        }
    }

    /// The form again with `fb` (its sentences, and what was typed).
    pub fn form(status: StatusCode, fb: FormFeedback, retry_after: Option<u64>) -> Refusal {
        Refusal {
            status,
            retry_after,
            internal: None,
            message: fb.message,
            fields: fb.fields,
            values: Some(fb.values),
        }
    }

    /// A failure of ours (`error` is logged, never shown).
    pub fn ours(error: &dyn std::fmt::Display) -> Refusal {
        Refusal {
            internal: Some(error.to_string()),
            ..Refusal::new(StatusCode::SERVICE_UNAVAILABLE, OUR_SIDE)
        }
    }

    /// The hashers are all taken: try again in two seconds.
    pub fn busy() -> Refusal {
        Refusal {
            retry_after: Some(2),
            ..Refusal::new(StatusCode::SERVICE_UNAVAILABLE, BUSY)
        }
    }

    /// Says the form's sentence under `field` instead (unless it is ours).
    pub fn under(mut self, field: Option<&str>) -> Refusal {
        if let (Some(field), None) = (field, &self.internal) {
            if let Some(m) = self.message.take() {
                self.fields.insert(field.into(), m);
            }
        }
        self
    }

    /// `typed` (what the page shows again) with the refusal's sentences.
    pub fn onto(self, mut typed: FormFeedback) -> FormFeedback {
        typed.message = self.message;
        typed.fields.extend(self.fields);
        if let Some(values) = self.values {
            typed.values = values;
        }
        typed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_of_ours_keeps_its_cause_off_the_page() {
        let r = Refusal::ours(&"connection reset by peer (10.0.0.5:5432)").under(Some("email"));
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        let fb = r.onto(FormFeedback::default());
        assert_eq!(fb.message.as_deref(), Some(OUR_SIDE));
        assert!(fb.fields.is_empty());
    }

    #[test]
    fn a_sentence_moves_under_its_field_and_typed_values_stay() {
        let mut typed = FormFeedback::default();
        typed.values.insert("name".into(), "ci".into());
        let fb = Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, "Too long.")
            .under(Some("name"))
            .onto(typed);
        assert_eq!(fb.message, None);
        assert_eq!(fb.fields["name"], "Too long.");
        assert_eq!(fb.values["name"], "ci");
    }
}
