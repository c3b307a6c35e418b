//! The catalogue as a TOML file: how a hall is set up before it has met its cloud, and how
//! the demo is seeded. Unknown keys, missing fields and contradictions are refused with the
//! line they are on.

use onestop_model::{
    BookingRules, CaseKind, Catalog, Department, DepartmentId, Hall, HallId, Notice, NoticeId, QueueRules,
    Service, ServiceId, Staff, StaffId, Text, Timestamp, Window,
};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    /// The campus's offset from UTC in minutes (China: 480); each hall's by default.
    #[serde(default)]
    utc_offset_minutes: Option<i32>,
    #[serde(default, rename = "department")]
    departments: Vec<SeedDepartment>,
    #[serde(default, rename = "service")]
    services: Vec<SeedService>,
    #[serde(default, rename = "hall")]
    halls: Vec<SeedHall>,
    #[serde(default, rename = "notice")]
    notices: Vec<SeedNotice>,
    #[serde(default, rename = "staff")]
    staff: Vec<SeedStaff>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedDepartment {
    id: DepartmentId,
    name: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedService {
    id: ServiceId,
    department: DepartmentId,
    name: Text,
    prefix: char,
    kind: CaseKind,
    #[serde(default)]
    guide: Text,
    #[serde(default = "five")]
    expected_minutes: u32,
}

fn five() -> u32 {
    5
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedHall {
    id: HallId,
    name: Text,
    #[serde(default)]
    address: Text,
    /// The hall's own offset, when it is not the campus's.
    #[serde(default)]
    utc_offset_minutes: Option<i32>,
    #[serde(default)]
    rules: QueueRules,
    #[serde(default)]
    booking: BookingRules,
    #[serde(default, rename = "window")]
    windows: Vec<Window>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedNotice {
    id: NoticeId,
    title: Text,
    body: Text,
    /// Milliseconds since 1970; 0 when not given.
    #[serde(default)]
    published: i64,
    #[serde(default)]
    halls: Vec<HallId>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedStaff {
    id: StaffId,
    name: String,
    department: DepartmentId,
    /// The window PIN in clear (hashed with argon2 on load) …
    #[serde(default)]
    pin: Option<String>,
    /// … or its argon2 hash.
    #[serde(default)]
    pin_hash: Option<String>,
    #[serde(default)]
    halls: Vec<HallId>,
    #[serde(default)]
    card: Option<String>,
}

/// A catalogue file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Toml { path: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// Reads a catalogue TOML file.
pub fn load(path: &Path) -> Result<Catalog, SeedError> {
    let name = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|source| SeedError::Read { path: name.clone(), source })?;
    parse(&text, &name)
}

/// Parses catalogue TOML; `name` names the source in errors.
pub fn parse(text: &str, name: &str) -> Result<Catalog, SeedError> {
    let seed: SeedFile = toml::from_str(text)
        .map_err(|e| SeedError::Toml { path: name.to_string(), message: e.to_string() })?;
    let invalid = |message: String| SeedError::Invalid { path: name.to_string(), message };
    let mut c = Catalog::default();
    if let Some(m) = seed.utc_offset_minutes {
        c.utc_offset_minutes = m;
    }
    for d in seed.departments {
        if c.departments.insert(d.id.clone(), Department { id: d.id.clone(), name: d.name }).is_some() {
            return Err(invalid(format!("department '{}' is listed twice", d.id)));
        }
    }
    for s in seed.services {
        let service = Service {
            id: s.id.clone(),
            department: s.department,
            name: s.name,
            prefix: s.prefix,
            kind: s.kind,
            guide: s.guide,
            expected_minutes: s.expected_minutes,
        };
        if c.services.insert(s.id.clone(), service).is_some() {
            return Err(invalid(format!("service '{}' is listed twice", s.id)));
        }
    }
    for h in seed.halls {
        if let Err(e) = HallId::parse(h.id.as_str()) {
            return Err(invalid(e.to_string()));
        }
        let hall = Hall {
            id: h.id.clone(),
            name: h.name,
            address: h.address,
            utc_offset_minutes: h.utc_offset_minutes.unwrap_or(c.utc_offset_minutes),
            windows: h.windows,
            rules: h.rules,
            booking: h.booking,
        };
        if c.halls.insert(h.id.clone(), hall).is_some() {
            return Err(invalid(format!("hall '{}' is listed twice", h.id)));
        }
    }
    for n in seed.notices {
        let notice = Notice {
            id: n.id.clone(),
            title: n.title,
            body: n.body,
            published: Timestamp(n.published),
            halls: n.halls,
        };
        c.notices.insert(n.id, notice);
    }
    for s in seed.staff {
        let pin_hash = match (s.pin, s.pin_hash) {
            (Some(pin), None) => {
                crate::secrets::hash_pin(&pin).map_err(|e| invalid(format!("staff '{}': {e}", s.id)))?
            }
            (None, Some(hash)) => hash,
            _ => return Err(invalid(format!("staff '{}' needs exactly one of pin and pin_hash", s.id))),
        };
        let staff = Staff {
            id: s.id.clone(),
            name: s.name,
            department: s.department,
            pin_hash,
            halls: s.halls,
            card: s.card,
        };
        c.staff.insert(s.id, staff);
    }
    c.validate().map_err(|e| invalid(e.to_string()))?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[department]]
id = "registry"
name = { zh = "教务处", en = "Registry" }

[[service]]
id = "cert"
department = "registry"
name = { zh = "在读证明", en = "Enrolment certificate" }
prefix = "A"
kind = "immediate"

[[hall]]
id = "main"
name = { zh = "主服务大厅", en = "Main hall" }
rules = { max_recalls = 3, booking_early_minutes = 30, booking_late_minutes = 15, aging_minutes = 40, reactivate_placement = "back", target_wait_minutes = 20 }
booking = { periods = ["09:00-12:00"], slot_minutes = 20, capacity = 2, weekends = true }
[[hall.window]]
number = 1
services = [{ service = "cert", weight = 2 }]

[[staff]]
id = "s1"
name = "王老师"
department = "registry"
pin = "2468"
"#;

    #[test]
    fn a_good_file_loads() {
        let c = parse(GOOD, "good.toml").unwrap();
        let main = &c.halls[&HallId::new("main")];
        assert_eq!(main.rules.max_recalls, 3);
        assert_eq!(main.booking.slots().len(), 9, "09:00-12:00 in 20-minute slots");
        assert_eq!((main.booking.capacity, main.booking.days_ahead, main.booking.weekends), (2, 7, true));
        assert!(crate::secrets::verify_pin(&c.staff[&StaffId::new("s1")].pin_hash, "2468"));
    }

    #[test]
    fn mistakes_are_named() {
        let err =
            parse(&GOOD.replace("prefix = \"A\"", "prefix = \"A\"\ncolour = \"red\""), "x.toml").unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
        assert!(err.to_string().starts_with("x.toml: TOML parse error at line"), "{err}");
        let err = parse(&GOOD.replace("service = \"cert\"", "service = \"nope\""), "x.toml").unwrap_err();
        assert_eq!(err.to_string(), "x.toml: hall main window 1 serves nope, which is not in the catalogue");
        let err = parse(&GOOD.replace("pin = \"2468\"", ""), "x.toml").unwrap_err();
        assert_eq!(err.to_string(), "x.toml: staff 's1' needs exactly one of pin and pin_hash");
        let err = parse(&GOOD.replace("09:00-12:00", "12:00-09:00"), "x.toml").unwrap_err();
        assert!(err.to_string().contains("'12:00-09:00' is not a period"), "{err}");
        let err = parse(&GOOD.replace("slot_minutes = 20", "slot_minutes = 2"), "x.toml").unwrap_err();
        assert!(err.to_string().contains("booking slots must be 5 to 240 minutes"), "{err}");
        let err = parse(&GOOD.replace("kind = \"immediate\"", "kind = \"later\""), "x.toml").unwrap_err();
        assert!(err.to_string().contains("unknown variant `later`"), "{err}");
    }

    /// The rule of hall ids is the sync layer's (document ids, certificates): a hall it would
    /// refuse never gets into a catalogue, from a file or from the back office.
    #[test]
    fn ids_follow_their_rules() {
        let err = parse(&GOOD.replace("id = \"main\"", "id = \"east_wing\""), "x.toml").unwrap_err();
        assert!(err.to_string().contains("the hall id \"east_wing\" must be 1 to 32"), "{err}");
        assert!(
            <crate::docid::DocId as std::str::FromStr>::from_str("hall/east_wing/day/2026-12-07").is_err()
        );
        let long = "h".repeat(33);
        assert!(parse(&GOOD.replace("id = \"main\"", &format!("id = \"{long}\"")), "x.toml").is_err());
        let err = parse(&GOOD.replace("id = \"cert\"", "id = \"Cert\""), "x.toml").unwrap_err();
        assert!(err.to_string().contains("the service id \"Cert\""), "{err}");
        // The same rules when the catalogue is built in code (the back office's path).
        let mut c = parse(GOOD, "good.toml").unwrap();
        let mut hall = c.halls[&HallId::new("main")].clone();
        hall.id = HallId::new("east_wing");
        c.halls.insert(hall.id.clone(), hall.clone());
        assert!(matches!(c.validate(), Err(onestop_model::CatalogError::BadId(_))));
        c.halls.remove(&HallId::new("east_wing"));
        c.halls.insert(HallId::new("west"), hall);
        assert!(matches!(c.validate(), Err(onestop_model::CatalogError::KeyMismatch { .. })));
    }

    /// A campus in another time zone says so once; halls take it unless they name their own.
    #[test]
    fn the_campus_time_zone_is_every_halls_default() {
        let c = parse(GOOD, "good.toml").unwrap();
        assert_eq!((c.campus_offset(), c.offset_of(&HallId::new("main"))), (480, 480));
        let c = parse(&format!("utc_offset_minutes = 60\n{GOOD}"), "x.toml").unwrap();
        assert_eq!((c.campus_offset(), c.offset_of(&HallId::new("main"))), (60, 60));
        let own = GOOD.replace("id = \"main\"", "id = \"main\"\nutc_offset_minutes = 0");
        let c = parse(&format!("utc_offset_minutes = 60\n{own}"), "x.toml").unwrap();
        assert_eq!((c.campus_offset(), c.offset_of(&HallId::new("main"))), (60, 0));
        let err = parse(&format!("utc_offset_minutes = 4800\n{GOOD}"), "x.toml").unwrap_err();
        assert!(err.to_string().contains("is not a time zone"), "{err}");
        // The published document keeps it.
        let mut doc = automerge::AutoCommit::new();
        crate::catalog::write(&mut doc, &c_with(60)).unwrap();
        assert_eq!(crate::catalog::read(&doc).unwrap().campus_offset(), 60);
    }

    fn c_with(offset: i32) -> Catalog {
        let mut c = parse(GOOD, "good.toml").unwrap();
        c.utc_offset_minutes = offset;
        c
    }
}
