//! A case as pages show it: local times and the timeline of its steps (the visitor's progress
//! page and the back office's case page).

use super::Lang;
use maud::{Markup, html};
use onestop_model::{Case, CaseStatus, Timestamp};

/// "YYYY-MM-DD HH:MM" in the hall's local time.
pub fn local_time(t: Timestamp, offset: i32) -> String {
    format!("{} {}", t.day(offset), t.local_hm(offset))
}

/// A case's timeline (shared with the back office).
pub fn timeline(lang: Lang, case: &Case, offset: i32, show_by: bool) -> Markup {
    let mut steps: Vec<_> = case.history.iter().collect();
    steps.sort_by_key(|s| s.at);
    html! {
        ol.timeline {
            @for s in steps {
                li data-status=(s.status.as_str()) {
                    time datetime=(s.at.0) { (local_time(s.at, offset)) }
                    " "
                    strong.step { (lang.t(s.status.zh(), s.status.en())) }
                    @if show_by { " " span.meta { "(" (s.by) ")" } }
                    @if let Some(r) = &s.reason {
                        p.plain.reason {
                            @if s.status == CaseStatus::Rejected { (lang.t("原因：", "Reason: ")) }
                            @else { (lang.t("说明：", "Note: ")) }
                            (r)
                        }
                    }
                }
            }
        }
    }
}
