//! What happens in a hall on one business day: the events of the `hall/H/day/D` document.
//!
//! The day document is an append-only list of these events. They are facts, not requests: the
//! queue engine decided them, and replaying them rebuilds the engine's state exactly.

use crate::catalog::{CaseKind, Placement};
use crate::ids::{BookingId, ServiceId, StaffId, TicketNo, VisitorId, WindowNo};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Who the visitor is, as far as the hall knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonKind {
    Undergraduate,
    Graduate,
    Staff,
    Other,
}

impl PersonKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PersonKind::Undergraduate => "undergraduate",
            PersonKind::Graduate => "graduate",
            PersonKind::Staff => "staff",
            PersonKind::Other => "other",
        }
    }
    pub fn parse(s: &str) -> Option<PersonKind> {
        Some(match s {
            "undergraduate" => PersonKind::Undergraduate,
            "graduate" => PersonKind::Graduate,
            "staff" => PersonKind::Staff,
            "other" => PersonKind::Other,
            _ => return None,
        })
    }
}

/// A recognised campus card, reduced to what statistics may know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visitor {
    /// Keyed hash of the card number.
    pub id: VisitorId,
    pub kind: PersonKind,
    /// College or department, from the campus-card directory.
    pub college: String,
}

/// How the ticket was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Card(Visitor),
    Booking { booking: BookingId, slot_start: Timestamp, slot_end: Timestamp, visitor: Option<Visitor> },
    Anonymous,
}

impl Source {
    pub fn visitor(&self) -> Option<&Visitor> {
        match self {
            Source::Card(v) => Some(v),
            Source::Booking { visitor, .. } => visitor.as_ref(),
            Source::Anonymous => None,
        }
    }
}

/// A ticket's priority class as issued (before bookings and aging lift it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Normal,
    /// Elderly, disabled, pregnant: 老弱病残孕.
    Care,
    /// The green channel (绿色通道), e.g. urgent graduation paperwork.
    Green,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Normal => "normal",
            Priority::Care => "care",
            Priority::Green => "green",
        }
    }
    pub fn parse(s: &str) -> Option<Priority> {
        Some(match s {
            "normal" => Priority::Normal,
            "care" => Priority::Care,
            "green" => Priority::Green,
            _ => return None,
        })
    }
}

/// The national five-level scale of 好差评.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    VeryUnsatisfied = 1,
    Unsatisfied = 2,
    Basic = 3,
    Satisfied = 4,
    VerySatisfied = 5,
}

impl Level {
    pub const ALL: [Level; 5] =
        [Level::VerySatisfied, Level::Satisfied, Level::Basic, Level::Unsatisfied, Level::VeryUnsatisfied];
    pub fn score(self) -> u8 {
        self as u8
    }
    pub fn from_score(n: i64) -> Option<Level> {
        Some(match n {
            1 => Level::VeryUnsatisfied,
            2 => Level::Unsatisfied,
            3 => Level::Basic,
            4 => Level::Satisfied,
            5 => Level::VerySatisfied,
            _ => return None,
        })
    }
    pub fn zh(self) -> &'static str {
        match self {
            Level::VerySatisfied => "非常满意",
            Level::Satisfied => "满意",
            Level::Basic => "基本满意",
            Level::Unsatisfied => "不满意",
            Level::VeryUnsatisfied => "非常不满意",
        }
    }
    pub fn en(self) -> &'static str {
        match self {
            Level::VerySatisfied => "Very satisfied",
            Level::Satisfied => "Satisfied",
            Level::Basic => "Fairly satisfied",
            Level::Unsatisfied => "Unsatisfied",
            Level::VeryUnsatisfied => "Very unsatisfied",
        }
    }
    /// Counts as "satisfied" in the satisfaction rate.
    pub fn is_satisfied(self) -> bool {
        self >= Level::Satisfied
    }
}

/// A rating: the overall level and optional dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rating {
    pub level: Level,
    #[serde(default)]
    pub attitude: Option<Level>,
    #[serde(default)]
    pub efficiency: Option<Level>,
    #[serde(default)]
    pub quality: Option<Level>,
}

impl Rating {
    pub fn overall(level: Level) -> Rating {
        Rating { level, attitude: None, efficiency: None, quality: None }
    }
}

/// Where a transfer sends a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferTarget {
    /// Only this window may call it.
    Window(WindowNo),
    /// Any window serving this service may call it.
    Service(ServiceId),
}

/// One fact of the day. `at` is the node's hybrid-logical-clock time of the fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum DayEvent {
    Issued {
        at: Timestamp,
        ticket: TicketNo,
        service: ServiceId,
        source: Source,
        priority: Priority,
        /// People ahead and the estimated wait, as printed on the ticket.
        ahead: u32,
        wait_estimate_min: u32,
    },
    CheckedIn {
        at: Timestamp,
        window: WindowNo,
        staff: StaffId,
    },
    CheckedOut {
        at: Timestamp,
        window: WindowNo,
    },
    Paused {
        at: Timestamp,
        window: WindowNo,
        reason: String,
    },
    Resumed {
        at: Timestamp,
        window: WindowNo,
    },
    Called {
        at: Timestamp,
        ticket: TicketNo,
        window: WindowNo,
    },
    Recalled {
        at: Timestamp,
        ticket: TicketNo,
        window: WindowNo,
    },
    NoShow {
        at: Timestamp,
        ticket: TicketNo,
        window: WindowNo,
    },
    Reactivated {
        at: Timestamp,
        ticket: TicketNo,
        placement: Placement,
    },
    Transferred {
        at: Timestamp,
        ticket: TicketNo,
        window: WindowNo,
        to: TransferTarget,
        placement: Placement,
    },
    Started {
        at: Timestamp,
        ticket: TicketNo,
        window: WindowNo,
    },
    /// The ticket is done and its case registered as `kind`; the case's number is
    /// [`CaseNo::for_ticket`](crate::CaseNo::for_ticket), its details live in the cases document.
    Finished {
        at: Timestamp,
        ticket: TicketNo,
        window: WindowNo,
        kind: CaseKind,
    },
    Rated {
        at: Timestamp,
        ticket: TicketNo,
        window: WindowNo,
        rating: Rating,
    },
}

impl DayEvent {
    pub fn at(&self) -> Timestamp {
        match self {
            DayEvent::Issued { at, .. }
            | DayEvent::CheckedIn { at, .. }
            | DayEvent::CheckedOut { at, .. }
            | DayEvent::Paused { at, .. }
            | DayEvent::Resumed { at, .. }
            | DayEvent::Called { at, .. }
            | DayEvent::Recalled { at, .. }
            | DayEvent::NoShow { at, .. }
            | DayEvent::Reactivated { at, .. }
            | DayEvent::Transferred { at, .. }
            | DayEvent::Started { at, .. }
            | DayEvent::Finished { at, .. }
            | DayEvent::Rated { at, .. } => *at,
        }
    }

    /// The ticket this event is about, if any.
    pub fn ticket(&self) -> Option<TicketNo> {
        match self {
            DayEvent::Issued { ticket, .. }
            | DayEvent::Called { ticket, .. }
            | DayEvent::Recalled { ticket, .. }
            | DayEvent::NoShow { ticket, .. }
            | DayEvent::Reactivated { ticket, .. }
            | DayEvent::Transferred { ticket, .. }
            | DayEvent::Started { ticket, .. }
            | DayEvent::Finished { ticket, .. }
            | DayEvent::Rated { ticket, .. } => Some(*ticket),
            _ => None,
        }
    }

    /// The short name used in documents and logs.
    pub fn name(&self) -> &'static str {
        match self {
            DayEvent::Issued { .. } => "issued",
            DayEvent::CheckedIn { .. } => "checked_in",
            DayEvent::CheckedOut { .. } => "checked_out",
            DayEvent::Paused { .. } => "paused",
            DayEvent::Resumed { .. } => "resumed",
            DayEvent::Called { .. } => "called",
            DayEvent::Recalled { .. } => "recalled",
            DayEvent::NoShow { .. } => "no_show",
            DayEvent::Reactivated { .. } => "reactivated",
            DayEvent::Transferred { .. } => "transferred",
            DayEvent::Started { .. } => "started",
            DayEvent::Finished { .. } => "finished",
            DayEvent::Rated { .. } => "rated",
        }
    }
}
