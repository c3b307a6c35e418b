//! The campus catalogue: departments, services, halls, windows, queue rules, notices and staff.
//!
//! Written by the cloud's back office, read by every hall (read-only there).

use crate::ids::{DepartmentId, HallId, NoticeId, ServiceId, StaffId, WindowNo};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Text a visitor or staff member reads: Chinese first, English second.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub zh: String,
    #[serde(default)]
    pub en: String,
}

impl Text {
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> Text {
        Text { zh: zh.into(), en: en.into() }
    }
}

/// How a service's case is handled after acceptance at the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    /// Done on the spot (即办件).
    Immediate,
    /// Goes through review and processing; the visitor follows it online (承诺件).
    Pending,
}

impl CaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseKind::Immediate => "immediate",
            CaseKind::Pending => "pending",
        }
    }
    pub fn parse(s: &str) -> Option<CaseKind> {
        match s {
            "immediate" => Some(CaseKind::Immediate),
            "pending" => Some(CaseKind::Pending),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    pub id: DepartmentId,
    pub name: Text,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub id: ServiceId,
    pub department: DepartmentId,
    pub name: Text,
    /// The ticket prefix letter (A–Z); numbers count per prefix per day.
    pub prefix: char,
    pub kind: CaseKind,
    /// Materials, steps, time limit, fees, where to go.
    #[serde(default)]
    pub guide: Text,
    /// The expected handling time, used for wait estimates before the day has its own figures.
    #[serde(default = "default_expected_minutes")]
    pub expected_minutes: u32,
}

fn default_expected_minutes() -> u32 {
    5
}

/// A service served at a window, with its weight (≥ 1): a heavier service's waiting time counts
/// for more when the window picks the next ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowService {
    pub service: ServiceId,
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub number: WindowNo,
    #[serde(default)]
    pub name: Text,
    pub services: Vec<WindowService>,
}

/// Where a transferred or reactivated ticket is placed in its new queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// Called before every ticket that was not itself placed at the front earlier.
    Front,
    /// Behind every ticket already waiting there (as if it had just arrived).
    Back,
    /// Where its original arrival puts it.
    Original,
}

impl Placement {
    pub fn as_str(self) -> &'static str {
        match self {
            Placement::Front => "front",
            Placement::Back => "back",
            Placement::Original => "original",
        }
    }
    pub fn parse(s: &str) -> Option<Placement> {
        match s {
            "front" => Some(Placement::Front),
            "back" => Some(Placement::Back),
            "original" => Some(Placement::Original),
            _ => None,
        }
    }
}

/// The queue rules of one hall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueRules {
    /// How many recalls a called ticket gets; one more recall makes it a no-show.
    pub max_recalls: u32,
    /// A booking may be checked in this many minutes before its slot starts.
    pub booking_early_minutes: u32,
    /// … and up to this many minutes after it starts.
    pub booking_late_minutes: u32,
    /// Every this many minutes of waiting raises a ticket's priority by one class.
    pub aging_minutes: u32,
    /// Where a reactivated no-show goes back into the queue.
    pub reactivate_placement: Placement,
    /// The waiting target used by statistics ("served within the target wait").
    pub target_wait_minutes: u32,
}

impl Default for QueueRules {
    fn default() -> Self {
        QueueRules {
            max_recalls: 2,
            booking_early_minutes: 30,
            booking_late_minutes: 15,
            aging_minutes: 45,
            reactivate_placement: Placement::Back,
            target_wait_minutes: 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hall {
    pub id: HallId,
    pub name: Text,
    #[serde(default)]
    pub address: Text,
    /// Minutes east of UTC for the hall's business day (China: 480).
    #[serde(default = "china")]
    pub utc_offset_minutes: i32,
    pub windows: Vec<Window>,
    #[serde(default)]
    pub rules: QueueRules,
}

fn china() -> i32 {
    480
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub id: NoticeId,
    pub title: Text,
    pub body: Text,
    pub published: Timestamp,
    /// Halls it is shown in; empty means every hall.
    #[serde(default)]
    pub halls: Vec<HallId>,
}

/// A staff member who may work at a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staff {
    pub id: StaffId,
    pub name: String,
    pub department: DepartmentId,
    /// The argon2 PHC string of the window PIN (never the PIN itself).
    pub pin_hash: String,
    /// Halls where this person may check in; empty means any hall.
    #[serde(default)]
    pub halls: Vec<HallId>,
    /// The campus card used to log in at a window's card reader, if any.
    #[serde(default)]
    pub card: Option<String>,
}

/// The whole catalogue document, typed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Catalog {
    pub departments: BTreeMap<DepartmentId, Department>,
    pub services: BTreeMap<ServiceId, Service>,
    pub halls: BTreeMap<HallId, Hall>,
    pub notices: BTreeMap<NoticeId, Notice>,
    pub staff: BTreeMap<StaffId, Staff>,
}

/// A catalogue that contradicts itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("service {service} names department {department}, which is not in the catalogue")]
    UnknownDepartment { service: ServiceId, department: DepartmentId },
    #[error("service {service} has prefix '{prefix}': a prefix is one capital letter A–Z")]
    BadPrefix { service: ServiceId, prefix: char },
    #[error("hall {hall} window {window} serves {service}, which is not in the catalogue")]
    UnknownService { hall: HallId, window: WindowNo, service: ServiceId },
    #[error("hall {hall} window {window} gives {service} weight 0: weights start at 1")]
    ZeroWeight { hall: HallId, window: WindowNo, service: ServiceId },
    #[error("hall {hall} has window {window} twice")]
    DuplicateWindow { hall: HallId, window: WindowNo },
    #[error("hall {hall}: services {a} and {b} share prefix '{prefix}' but both are served there")]
    SharedPrefix { hall: HallId, a: ServiceId, b: ServiceId, prefix: char },
    #[error("hall {hall}: aging_minutes must be at least 1")]
    ZeroAging { hall: HallId },
}

impl Catalog {
    /// Checks what the engine relies on: known references, valid prefixes, one prefix per
    /// service within a hall (so "A023" names one queue), positive weights.
    pub fn validate(&self) -> Result<(), CatalogError> {
        for s in self.services.values() {
            if !self.departments.contains_key(&s.department) {
                return Err(CatalogError::UnknownDepartment {
                    service: s.id.clone(),
                    department: s.department.clone(),
                });
            }
            if !s.prefix.is_ascii_uppercase() {
                return Err(CatalogError::BadPrefix { service: s.id.clone(), prefix: s.prefix });
            }
        }
        for h in self.halls.values() {
            if h.rules.aging_minutes == 0 {
                return Err(CatalogError::ZeroAging { hall: h.id.clone() });
            }
            let mut seen_windows = std::collections::BTreeSet::new();
            let mut prefixes: BTreeMap<char, &ServiceId> = BTreeMap::new();
            for w in &h.windows {
                if !seen_windows.insert(w.number) {
                    return Err(CatalogError::DuplicateWindow { hall: h.id.clone(), window: w.number });
                }
                for ws in &w.services {
                    let Some(s) = self.services.get(&ws.service) else {
                        return Err(CatalogError::UnknownService {
                            hall: h.id.clone(),
                            window: w.number,
                            service: ws.service.clone(),
                        });
                    };
                    if ws.weight == 0 {
                        return Err(CatalogError::ZeroWeight {
                            hall: h.id.clone(),
                            window: w.number,
                            service: ws.service.clone(),
                        });
                    }
                    match prefixes.get(&s.prefix) {
                        Some(other) if **other != s.id => {
                            return Err(CatalogError::SharedPrefix {
                                hall: h.id.clone(),
                                a: (*other).clone(),
                                b: s.id.clone(),
                                prefix: s.prefix,
                            });
                        }
                        _ => {
                            prefixes.insert(s.prefix, &s.id);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
