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

/// A stretch of a day in local minutes since midnight, `start` before `end` (at most 24:00);
/// written "08:30-11:30".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Period {
    pub start: u16,
    pub end: u16,
}

/// A period that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a period: write it as HH:MM-HH:MM, the start first, e.g. 08:30-11:30")]
pub struct BadPeriod(pub String);

impl Period {
    pub fn new(start: u16, end: u16) -> Option<Period> {
        (start < end && end <= 24 * 60).then_some(Period { start, end })
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        write!(f, "{}-{}", hm(self.start), hm(self.end))
    }
}

impl std::str::FromStr for Period {
    type Err = BadPeriod;
    fn from_str(s: &str) -> Result<Period, BadPeriod> {
        let bad = || BadPeriod(s.to_string());
        let hm = |t: &str| -> Option<u16> {
            let (h, m) = t.trim().split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
            (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
        };
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        Period::new(hm(a).ok_or_else(bad)?, hm(b).ok_or_else(bad)?).ok_or_else(bad)
    }
}

impl TryFrom<String> for Period {
    type Error = BadPeriod;
    fn try_from(s: String) -> Result<Period, BadPeriod> {
        s.parse()
    }
}

impl From<Period> for String {
    fn from(p: Period) -> String {
        p.to_string()
    }
}

/// How a hall takes online reservations. Every field has a default, so a catalogue written
/// before reservations existed (or a hall that says nothing) books on the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BookingRules {
    /// Whether the hall takes reservations at all.
    pub enabled: bool,
    /// When slots are offered, local time, e.g. `["08:30-11:30", "14:00-17:00"]`.
    pub periods: Vec<Period>,
    /// The length of one slot; each period is cut into whole slots from its start.
    pub slot_minutes: u32,
    /// Bookings per slot per service.
    pub capacity: u32,
    /// How many days ahead a slot may be booked (0: today only).
    pub days_ahead: u32,
    /// Whether Saturdays and Sundays are bookable.
    pub weekends: bool,
}

impl Default for BookingRules {
    fn default() -> Self {
        BookingRules {
            enabled: true,
            periods: vec![
                Period { start: 8 * 60 + 30, end: 11 * 60 + 30 },
                Period { start: 14 * 60, end: 17 * 60 },
            ],
            slot_minutes: 30,
            capacity: 4,
            days_ahead: 7,
            weekends: false,
        }
    }
}

impl BookingRules {
    /// The slots of a day that is open for booking, as local (start, end) minutes, in order.
    pub fn slots(&self) -> Vec<(u16, u16)> {
        let mut out = Vec::new();
        let len = self.slot_minutes.clamp(1, 24 * 60) as u16;
        for p in &self.periods {
            let mut s = p.start;
            while s + len <= p.end {
                out.push((s, s + len));
                s += len;
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether `day` takes bookings (weekends only when allowed).
    pub fn open_on(&self, day: crate::time::Day) -> bool {
        self.enabled && (self.weekends || day.weekday() <= 5)
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
    /// Online reservations (defaults when the catalogue says nothing).
    #[serde(default)]
    pub booking: BookingRules,
}

fn china() -> i32 {
    crate::time::CHINA_UTC_OFFSET_MINUTES
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    pub departments: BTreeMap<DepartmentId, Department>,
    pub services: BTreeMap<ServiceId, Service>,
    pub halls: BTreeMap<HallId, Hall>,
    pub notices: BTreeMap<NoticeId, Notice>,
    pub staff: BTreeMap<StaffId, Staff>,
    /// The cloud's Ed25519 public key for booking tokens (64 hexadecimal digits), so a hall
    /// verifies a visitor's booking offline. The cloud's, never a catalogue file's: a
    /// catalogue written without one keeps the key already published.
    #[serde(default)]
    pub booking_key: Option<String>,
    /// The campus's offset from UTC in minutes (China: 480): the business day of the cloud's
    /// pages and figures that are not one hall's, and the default of every hall's own.
    #[serde(default = "china")]
    pub utc_offset_minutes: i32,
}

impl Default for Catalog {
    fn default() -> Catalog {
        Catalog {
            departments: BTreeMap::new(),
            services: BTreeMap::new(),
            halls: BTreeMap::new(),
            notices: BTreeMap::new(),
            staff: BTreeMap::new(),
            booking_key: None,
            utc_offset_minutes: china(),
        }
    }
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
    #[error("hall {hall}: booking slots must be 5 to 240 minutes and hold at least 1 booking")]
    BadSlots { hall: HallId },
    #[error(transparent)]
    BadId(#[from] crate::ids::BadId),
    #[error("{what} {key} holds the entry of {id}: an entry's id is its key")]
    KeyMismatch { what: &'static str, key: String, id: String },
    #[error("UTC offset {minutes} min ({what}) is not a time zone: it must be -720 to +840 minutes")]
    BadOffset { what: String, minutes: i32 },
}

/// Whether `minutes` east of UTC is a real time zone's offset (UTC−12:00 to UTC+14:00).
pub fn valid_utc_offset(minutes: i32) -> bool {
    (-720..=840).contains(&minutes)
}

impl Catalog {
    /// The business-day offset of `hall` (minutes east of UTC): the hall's own, or the
    /// campus's for a hall the catalogue does not have.
    pub fn offset_of(&self, hall: &HallId) -> i32 {
        self.halls.get(hall).map_or(self.utc_offset_minutes, |h| h.utc_offset_minutes)
    }

    /// The campus's offset (minutes east of UTC), for what is not one hall's.
    pub fn campus_offset(&self) -> i32 {
        self.utc_offset_minutes
    }

    /// Checks what the engine and the sync layer rely on: ids that follow their rules (a hall
    /// id the sync layer would refuse never publishes) and equal their keys, known
    /// references, valid prefixes, one prefix per service within a hall (so "A023" names one
    /// queue), positive weights, real time zones.
    pub fn validate(&self) -> Result<(), CatalogError> {
        use crate::ids::{BadId, check_item_id, valid_hall_id};
        fn keyed<K: AsRef<str>, V>(
            what: &'static str,
            map: &BTreeMap<K, V>,
            id: impl Fn(&V) -> &str,
        ) -> Result<(), CatalogError> {
            for (k, v) in map {
                if k.as_ref() != id(v) {
                    return Err(CatalogError::KeyMismatch {
                        what,
                        key: k.as_ref().to_string(),
                        id: id(v).to_string(),
                    });
                }
            }
            Ok(())
        }
        keyed("department", &self.departments, |d| d.id.as_str())?;
        keyed("service", &self.services, |s| s.id.as_str())?;
        keyed("hall", &self.halls, |h| h.id.as_str())?;
        keyed("notice", &self.notices, |n| n.id.as_str())?;
        keyed("staff", &self.staff, |s| s.id.as_str())?;
        for id in self.departments.keys() {
            check_item_id("部门", "department", id.as_str())?;
        }
        for id in self.services.keys() {
            check_item_id("事项", "service", id.as_str())?;
        }
        for id in self.notices.keys() {
            check_item_id("公告", "notice", id.as_str())?;
        }
        for id in self.staff.keys() {
            check_item_id("工号", "staff", id.as_str())?;
        }
        if !valid_utc_offset(self.utc_offset_minutes) {
            return Err(CatalogError::BadOffset { what: "campus".into(), minutes: self.utc_offset_minutes });
        }
        for h in self.halls.values() {
            if !valid_hall_id(h.id.as_str()) {
                return Err(BadId::Hall(h.id.to_string()).into());
            }
            if !valid_utc_offset(h.utc_offset_minutes) {
                return Err(CatalogError::BadOffset {
                    what: format!("hall {}", h.id),
                    minutes: h.utc_offset_minutes,
                });
            }
        }
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
            let b = &h.booking;
            if !(5..=240).contains(&b.slot_minutes) || b.capacity == 0 {
                return Err(CatalogError::BadSlots { hall: h.id.clone() });
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
