//! The words of notices: when something happens, and how long ago.

use super::*;

/// "in 1 day", "in 7 days".
pub(super) fn in_days(days: i64) -> String {
    if days <= 1 {
        "in 1 day".into()
    } else {
        format!("in {days} days")
    }
}

/// "less than a day ago", "1 day ago", "3 days ago".
pub fn ago(since: Span) -> String {
    match since.num_days() {
        d if d < 1 => "less than a day ago".into(),
        1 => "1 day ago".into(),
        d => format!("{d} days ago"),
    }
}

pub(super) fn when(at: DateTime<Utc>) -> String {
    at.format("%b %-d, %Y %H:%M UTC").to_string()
}
