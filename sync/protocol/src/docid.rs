//! Document ids: which documents exist and how they are named.
//!
//! | id | written by |
//! |---|---|
//! | `catalog` | the cloud |
//! | `cards` | the cloud (the campus-card directory) |
//! | `hall/H/day/YYYY-MM-DD` | the edge of hall H |
//! | `hall/H/bookings/YYYY-MM-DD` | the cloud creates; the edge of H checks in |
//! | `hall/H/cases/YYYY-MM` | the edge of H registers; edge and cloud add steps |

use onestop_model::{Day, HallId};
use std::fmt;
use std::str::FromStr;

/// A calendar month, the span of one cases document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    pub month: u8,
}

impl Month {
    pub fn of(day: Day) -> Month {
        Month { year: day.year, month: day.month }
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// One replicated document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DocId {
    Catalog,
    Cards,
    Day { hall: HallId, day: Day },
    Bookings { hall: HallId, day: Day },
    Cases { hall: HallId, month: Month },
}

impl DocId {
    /// The hall this document belongs to, if it belongs to one.
    pub fn hall(&self) -> Option<&HallId> {
        match self {
            DocId::Catalog | DocId::Cards => None,
            DocId::Day { hall, .. } | DocId::Bookings { hall, .. } | DocId::Cases { hall, .. } => Some(hall),
        }
    }

    /// The value of the document's `type` key.
    pub fn kind(&self) -> &'static str {
        match self {
            DocId::Catalog => "catalog",
            DocId::Cards => "cards",
            DocId::Day { .. } => "day",
            DocId::Bookings { .. } => "bookings",
            DocId::Cases { .. } => "cases",
        }
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocId::Catalog => f.write_str("catalog"),
            DocId::Cards => f.write_str("cards"),
            DocId::Day { hall, day } => write!(f, "hall/{hall}/day/{day}"),
            DocId::Bookings { hall, day } => write!(f, "hall/{hall}/bookings/{day}"),
            DocId::Cases { hall, month } => write!(f, "hall/{hall}/cases/{month}"),
        }
    }
}

/// A document id that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{id}' is not a document id: {why}")]
pub struct BadDocId {
    pub id: String,
    pub why: &'static str,
}

pub use onestop_model::valid_hall_id;

impl FromStr for DocId {
    type Err = BadDocId;
    fn from_str(s: &str) -> Result<DocId, BadDocId> {
        let bad = |why| BadDocId { id: s.to_string(), why };
        match s {
            "catalog" => return Ok(DocId::Catalog),
            "cards" => return Ok(DocId::Cards),
            _ => {}
        }
        let parts: Vec<&str> = s.split('/').collect();
        let ["hall", hall, kind, when] = parts[..] else {
            return Err(bad("expected catalog, cards or hall/<hall>/<day|bookings|cases>/<date>"));
        };
        if !valid_hall_id(hall) {
            return Err(bad("a hall id is 1-32 of a-z, 0-9 and -"));
        }
        let hall = HallId::new(hall);
        match kind {
            "day" | "bookings" => {
                let day: Day = when.parse().map_err(|_| bad("the date must be YYYY-MM-DD"))?;
                Ok(if kind == "day" { DocId::Day { hall, day } } else { DocId::Bookings { hall, day } })
            }
            "cases" => {
                let day: Day = format!("{when}-01").parse().map_err(|_| bad("the month must be YYYY-MM"))?;
                Ok(DocId::Cases { hall, month: Month::of(day) })
            }
            _ => Err(bad("the kind must be day, bookings or cases")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for s in [
            "catalog",
            "cards",
            "hall/main/day/2026-11-26",
            "hall/east-2/bookings/2026-12-01",
            "hall/main/cases/2026-11",
        ] {
            assert_eq!(s.parse::<DocId>().unwrap().to_string(), s);
        }
        for s in [
            "",
            "hall/Main/day/2026-11-26",
            "hall/main/day/2026-13-01",
            "hall/main/cases/2026",
            "hall/main/x/2026-11-26",
            "hall//day/2026-11-26",
        ] {
            assert!(s.parse::<DocId>().is_err(), "{s}");
        }
    }
}
