//! Cases, bookings and the campus-card directory.

use crate::catalog::CaseKind;
use crate::day::{PersonKind, Visitor};
use crate::ids::{BookingId, CaseNo, HallId, ServiceId, StaffId, TicketNo, VisitorId, WindowNo};
use crate::time::{Day, Timestamp};
use serde::{Deserialize, Serialize};

/// A step in a case's life. Histories are append-only; the current status is derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    Registered,
    UnderReview,
    Approved,
    Rejected,
    Processing,
    Completed,
    Collected,
}

impl CaseStatus {
    pub const ALL: [CaseStatus; 7] = [
        CaseStatus::Registered,
        CaseStatus::UnderReview,
        CaseStatus::Approved,
        CaseStatus::Rejected,
        CaseStatus::Processing,
        CaseStatus::Completed,
        CaseStatus::Collected,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Registered => "registered",
            CaseStatus::UnderReview => "under_review",
            CaseStatus::Approved => "approved",
            CaseStatus::Rejected => "rejected",
            CaseStatus::Processing => "processing",
            CaseStatus::Completed => "completed",
            CaseStatus::Collected => "collected",
        }
    }
    pub fn parse(s: &str) -> Option<CaseStatus> {
        CaseStatus::ALL.into_iter().find(|c| c.as_str() == s)
    }
    pub fn zh(self) -> &'static str {
        match self {
            CaseStatus::Registered => "已受理",
            CaseStatus::UnderReview => "审核中",
            CaseStatus::Approved => "审核通过",
            CaseStatus::Rejected => "未通过",
            CaseStatus::Processing => "办理中",
            CaseStatus::Completed => "已办结",
            CaseStatus::Collected => "已领取",
        }
    }
    pub fn en(self) -> &'static str {
        match self {
            CaseStatus::Registered => "registered",
            CaseStatus::UnderReview => "under review",
            CaseStatus::Approved => "approved",
            CaseStatus::Rejected => "not approved",
            CaseStatus::Processing => "being processed",
            CaseStatus::Completed => "completed",
            CaseStatus::Collected => "collected",
        }
    }
    /// How far along the case is; a later stage wins when two arrive concurrently.
    pub fn stage(self) -> u8 {
        match self {
            CaseStatus::Registered => 0,
            CaseStatus::UnderReview => 1,
            CaseStatus::Approved | CaseStatus::Rejected => 2,
            CaseStatus::Processing => 3,
            CaseStatus::Completed => 4,
            CaseStatus::Collected => 5,
        }
    }
}

/// One entry of a case's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseStep {
    pub at: Timestamp,
    pub status: CaseStatus,
    /// Who recorded it: a staff id, or `system`.
    pub by: String,
    /// Required for a rejection; optional otherwise.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A case registered at a window, with its status history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub number: CaseNo,
    pub code: String,
    pub kind: CaseKind,
    pub hall: HallId,
    pub service: ServiceId,
    pub ticket: TicketNo,
    pub window: WindowNo,
    pub staff: Option<StaffId>,
    pub visitor: Option<VisitorId>,
    pub history: Vec<CaseStep>,
}

impl Case {
    /// The current status: the furthest stage reached, the latest among equals.
    pub fn status(&self) -> CaseStatus {
        self.history
            .iter()
            .enumerate()
            .max_by_key(|(i, s)| (s.status.stage(), s.at, *i))
            .map(|(_, s)| s.status)
            .unwrap_or(CaseStatus::Registered)
    }
}

/// A booking's state changes. Append-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    Booked,
    CheckedIn,
    Cancelled,
    Missed,
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Booked => "booked",
            BookingStatus::CheckedIn => "checked_in",
            BookingStatus::Cancelled => "cancelled",
            BookingStatus::Missed => "missed",
        }
    }
    pub fn parse(s: &str) -> Option<BookingStatus> {
        Some(match s {
            "booked" => BookingStatus::Booked,
            "checked_in" => BookingStatus::CheckedIn,
            "cancelled" => BookingStatus::Cancelled,
            "missed" => BookingStatus::Missed,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingStep {
    pub at: Timestamp,
    pub status: BookingStatus,
    pub by: String,
}

/// An online reservation for a slot in a hall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    pub id: BookingId,
    pub hall: HallId,
    pub day: Day,
    pub service: ServiceId,
    pub slot_start: Timestamp,
    pub slot_end: Timestamp,
    pub visitor: Option<Visitor>,
    /// The code the visitor types or scans at the kiosk.
    pub code: String,
    pub history: Vec<BookingStep>,
}

impl Booking {
    /// The current status. A check-in at the hall wins over a concurrent cancellation: the
    /// visitor is standing in the hall holding a ticket. Otherwise the latest step wins.
    pub fn status(&self) -> BookingStatus {
        if self.history.iter().any(|s| s.status == BookingStatus::CheckedIn) {
            return BookingStatus::CheckedIn;
        }
        self.history
            .iter()
            .enumerate()
            .max_by_key(|(i, s)| (s.at, *i))
            .map(|(_, s)| s.status)
            .unwrap_or(BookingStatus::Booked)
    }
}

/// One row of the campus-card directory the halls hold offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardEntry {
    pub card: String,
    pub kind: PersonKind,
    pub college: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(at: i64, status: CaseStatus) -> CaseStep {
        CaseStep { at: Timestamp(at), status, by: "t".into(), reason: None }
    }

    #[test]
    fn case_status_is_the_furthest_stage() {
        let mut c = Case {
            number: CaseNo::new("x"),
            code: "K7".into(),
            kind: CaseKind::Pending,
            hall: HallId::new("main"),
            service: ServiceId::new("s"),
            ticket: TicketNo::new('A', 1),
            window: 1,
            staff: None,
            visitor: None,
            history: vec![step(1, CaseStatus::Registered)],
        };
        assert_eq!(c.status(), CaseStatus::Registered);
        // The back office approves while the window (with a slower clock) marks review.
        c.history.push(step(10, CaseStatus::Approved));
        c.history.push(step(5, CaseStatus::UnderReview));
        assert_eq!(c.status(), CaseStatus::Approved);
    }

    #[test]
    fn check_in_beats_a_concurrent_cancel() {
        let mut b = Booking {
            id: BookingId::new("b1"),
            hall: HallId::new("main"),
            day: Day::new(2026, 11, 26).unwrap(),
            service: ServiceId::new("s"),
            slot_start: Timestamp(0),
            slot_end: Timestamp(1),
            visitor: None,
            code: "123456".into(),
            history: vec![BookingStep { at: Timestamp(0), status: BookingStatus::Booked, by: "web".into() }],
        };
        b.history.push(BookingStep { at: Timestamp(9), status: BookingStatus::Cancelled, by: "web".into() });
        assert_eq!(b.status(), BookingStatus::Cancelled);
        b.history.push(BookingStep { at: Timestamp(5), status: BookingStatus::CheckedIn, by: "main".into() });
        assert_eq!(b.status(), BookingStatus::CheckedIn);
    }
}
