//! The `catalog` document: written by the cloud, read-only in the halls.
//!
//! Every collection is a map keyed by id (never a list, so concurrent edits cannot duplicate
//! entries); windows are keyed by their number and serve a map of service → weight.

use crate::codec::{
    self, DocError, Fields, child, delete_others, entries, i, opt_s, reconcile_scalars, s, ts,
};
use automerge::transaction::Transactable;
use automerge::{AutomergeError, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, hydrate};
use onestop_model::{
    BookingRules, CaseKind, Catalog, Department, DepartmentId, Hall, HallId, Notice, NoticeId, Period,
    Placement, QueueRules, Service, ServiceId, Staff, StaffId, Text, Timestamp, Window, WindowService,
};
use std::collections::BTreeMap;

type Row = Vec<(&'static str, Option<ScalarValue>)>;

fn text(row: &mut Row, zh: &'static str, en: &'static str, t: &Text) {
    row.push((zh, s(&t.zh)));
    row.push((en, if t.en.is_empty() { None } else { s(&t.en) }));
}

fn read_text(f: &Fields<'_>, zh: &'static str, en: &'static str) -> Result<Text, DocError> {
    Ok(Text { zh: f.opt_str(zh)?.unwrap_or_default().into(), en: f.opt_str(en)?.unwrap_or_default().into() })
}

/// A set of ids stored as a map id → true.
fn write_set(
    tx: &mut impl Transactable,
    obj: &ObjId,
    key: &str,
    ids: &[HallId],
) -> Result<(), AutomergeError> {
    let set = child(tx, obj, key, ObjType::Map)?;
    for id in ids {
        codec::put_if_changed(tx, &set, id.as_str(), Some(ScalarValue::Boolean(true)))?;
    }
    delete_others(tx, &set, |k| ids.iter().any(|h| h.as_str() == k))
}

fn read_set(f: &Fields<'_>, key: &'static str) -> Result<Vec<HallId>, DocError> {
    let mut ids: Vec<HallId> =
        f.opt_map(key)?.map(|m| m.keys().map(HallId::new).collect()).unwrap_or_default();
    ids.sort();
    Ok(ids)
}

/// Makes a collection map hold exactly `rows` (id → scalar fields), each entry reconciled
/// field by field (nested parts are written by the caller).
fn write_collection<T>(
    tx: &mut impl Transactable,
    key: &str,
    items: &BTreeMap<impl AsRef<str> + Ord, T>,
    row: impl Fn(&T) -> Row,
) -> Result<(), AutomergeError> {
    let coll = child(tx, &ROOT, key, ObjType::Map)?;
    for (id, item) in items {
        let obj = child(tx, &coll, id.as_ref(), ObjType::Map)?;
        reconcile_scalars(tx, &obj, &row(item))?;
    }
    delete_others(tx, &coll, |k| items.keys().any(|id| id.as_ref() == k))
}

/// Publishes `catalog` into the document: only what changed becomes operations. The booking
/// key is written when the catalogue has one and otherwise left as it is (it is the cloud's
/// key, not part of a catalogue file).
pub fn write(tx: &mut impl Transactable, catalog: &Catalog) -> Result<(), AutomergeError> {
    codec::init_root(tx, "catalog")?;
    if let Some(key) = &catalog.booking_key {
        codec::put_if_changed(tx, &ROOT, "booking_key", s(key))?;
    }
    codec::put_if_changed(tx, &ROOT, "utc_offset_minutes", i(catalog.utc_offset_minutes))?;
    let departments: BTreeMap<String, &Department> =
        catalog.departments.iter().map(|(k, v)| (k.0.clone(), v)).collect();
    write_collection(tx, "departments", &departments, |d| {
        let mut r = Row::new();
        text(&mut r, "name", "name_en", &d.name);
        r
    })?;
    let services: BTreeMap<String, &Service> =
        catalog.services.iter().map(|(k, v)| (k.0.clone(), v)).collect();
    write_collection(tx, "services", &services, |sv| {
        let mut r: Row = vec![
            ("department", s(&sv.department)),
            ("prefix", s(sv.prefix.to_string())),
            ("kind", s(sv.kind.as_str())),
        ];
        text(&mut r, "name", "name_en", &sv.name);
        text(&mut r, "guide", "guide_en", &sv.guide);
        r.push(("expected_minutes", i(sv.expected_minutes)));
        r
    })?;
    let notices: BTreeMap<String, &Notice> = catalog.notices.iter().map(|(k, v)| (k.0.clone(), v)).collect();
    write_collection(tx, "notices", &notices, |n| {
        let mut r = Row::new();
        text(&mut r, "title", "title_en", &n.title);
        text(&mut r, "body", "body_en", &n.body);
        r.push(("published", ts(n.published)));
        r
    })?;
    let staff: BTreeMap<String, &Staff> = catalog.staff.iter().map(|(k, v)| (k.0.clone(), v)).collect();
    write_collection(tx, "staff", &staff, |st| {
        vec![
            ("name", s(&st.name)),
            ("department", s(&st.department)),
            ("pin_hash", s(&st.pin_hash)),
            ("card", opt_s(st.card.as_ref())),
        ]
    })?;
    let halls: BTreeMap<String, &Hall> = catalog.halls.iter().map(|(k, v)| (k.0.clone(), v)).collect();
    write_collection(tx, "halls", &halls, |h| {
        let mut r = Row::new();
        text(&mut r, "name", "name_en", &h.name);
        text(&mut r, "address", "address_en", &h.address);
        r.push(("utc_offset_minutes", i(h.utc_offset_minutes)));
        r
    })?;
    // Nested parts: hall sets of notices and staff, hall rules and windows.
    let coll = child(tx, &ROOT, "notices", ObjType::Map)?;
    for n in catalog.notices.values() {
        let obj = child(tx, &coll, n.id.as_str(), ObjType::Map)?;
        write_set(tx, &obj, "halls", &n.halls)?;
    }
    let coll = child(tx, &ROOT, "staff", ObjType::Map)?;
    for st in catalog.staff.values() {
        let obj = child(tx, &coll, st.id.as_str(), ObjType::Map)?;
        write_set(tx, &obj, "halls", &st.halls)?;
    }
    let coll = child(tx, &ROOT, "halls", ObjType::Map)?;
    for h in catalog.halls.values() {
        let obj = child(tx, &coll, h.id.as_str(), ObjType::Map)?;
        let rules = child(tx, &obj, "rules", ObjType::Map)?;
        let r = &h.rules;
        reconcile_scalars(
            tx,
            &rules,
            &[
                ("max_recalls", i(r.max_recalls)),
                ("booking_early_minutes", i(r.booking_early_minutes)),
                ("booking_late_minutes", i(r.booking_late_minutes)),
                ("aging_minutes", i(r.aging_minutes)),
                ("reactivate_placement", s(r.reactivate_placement.as_str())),
                ("target_wait_minutes", i(r.target_wait_minutes)),
            ],
        )?;
        let booking = child(tx, &obj, "booking", ObjType::Map)?;
        let b = &h.booking;
        let periods: Vec<String> = b.periods.iter().map(Period::to_string).collect();
        reconcile_scalars(
            tx,
            &booking,
            &[
                ("enabled", Some(ScalarValue::Boolean(b.enabled))),
                ("periods", s(periods.join(","))),
                ("slot_minutes", i(b.slot_minutes)),
                ("capacity", i(b.capacity)),
                ("days_ahead", i(b.days_ahead)),
                ("weekends", Some(ScalarValue::Boolean(b.weekends))),
            ],
        )?;
        let windows = child(tx, &obj, "windows", ObjType::Map)?;
        for w in &h.windows {
            let wobj = child(tx, &windows, &w.number.to_string(), ObjType::Map)?;
            let mut row = Row::new();
            text(&mut row, "name", "name_en", &w.name);
            reconcile_scalars(tx, &wobj, &row)?;
            let served = child(tx, &wobj, "services", ObjType::Map)?;
            for ws in &w.services {
                codec::put_if_changed(tx, &served, ws.service.as_str(), i(ws.weight))?;
            }
            delete_others(tx, &served, |k| w.services.iter().any(|ws| ws.service.as_str() == k))?;
        }
        delete_others(tx, &windows, |k| h.windows.iter().any(|w| w.number.to_string() == k))?;
    }
    Ok(())
}

/// Reads the catalogue document.
pub fn read(doc: &impl ReadDoc) -> Result<Catalog, DocError> {
    let value = doc.hydrate(automerge::ROOT, None)?;
    let root = codec::root(&value, "catalog", "catalog")?;
    let mut c =
        Catalog { booking_key: root.opt_str("booking_key")?.map(str::to_string), ..Catalog::default() };
    if let Some(m) = root.opt_int("utc_offset_minutes")? {
        c.utc_offset_minutes =
            i32::try_from(m).map_err(|_| root.bad("utc_offset_minutes", "(out of range)"))?;
    }
    if let Some(m) = root.opt_map("departments")? {
        for e in entries(m, "department") {
            let (id, f) = e?;
            c.departments.insert(
                DepartmentId::new(id),
                Department { id: DepartmentId::new(id), name: read_text(&f, "name", "name_en")? },
            );
        }
    }
    if let Some(m) = root.opt_map("services")? {
        for e in entries(m, "service") {
            let (id, f) = e?;
            let prefix_raw = f.str("prefix")?;
            let mut chars = prefix_raw.chars();
            let (Some(prefix), None) = (chars.next(), chars.next()) else {
                return Err(f.bad("prefix", prefix_raw));
            };
            c.services.insert(
                ServiceId::new(id),
                Service {
                    id: ServiceId::new(id),
                    department: DepartmentId::new(f.str("department")?),
                    name: read_text(&f, "name", "name_en")?,
                    prefix,
                    kind: f.parsed("kind", CaseKind::parse)?,
                    guide: read_text(&f, "guide", "guide_en")?,
                    expected_minutes: f
                        .opt_int("expected_minutes")?
                        .unwrap_or(5)
                        .try_into()
                        .map_err(|_| f.bad("expected_minutes", "(out of range)"))?,
                },
            );
        }
    }
    if let Some(m) = root.opt_map("notices")? {
        for e in entries(m, "notice") {
            let (id, f) = e?;
            c.notices.insert(
                NoticeId::new(id),
                Notice {
                    id: NoticeId::new(id),
                    title: read_text(&f, "title", "title_en")?,
                    body: read_text(&f, "body", "body_en")?,
                    published: Timestamp(f.opt_int("published")?.unwrap_or(0)),
                    halls: read_set(&f, "halls")?,
                },
            );
        }
    }
    if let Some(m) = root.opt_map("staff")? {
        for e in entries(m, "staff") {
            let (id, f) = e?;
            c.staff.insert(
                StaffId::new(id),
                Staff {
                    id: StaffId::new(id),
                    name: f.str("name")?.into(),
                    department: DepartmentId::new(f.str("department")?),
                    pin_hash: f.str("pin_hash")?.into(),
                    halls: read_set(&f, "halls")?,
                    card: f.opt_str("card")?.map(str::to_string),
                },
            );
        }
    }
    if let Some(m) = root.opt_map("halls")? {
        for e in entries(m, "hall") {
            let (id, f) = e?;
            let defaults = QueueRules::default();
            let rules = match f.opt_map("rules")? {
                None => defaults,
                Some(rm) => {
                    let r = Fields::new(rm, format!("hall {id} rules"));
                    let num = |k: &'static str, d: u32| -> Result<u32, DocError> {
                        r.opt_int(k)?.map_or(Ok(d), |v| u32::try_from(v).map_err(|_| r.bad(k, v)))
                    };
                    QueueRules {
                        max_recalls: num("max_recalls", defaults.max_recalls)?,
                        booking_early_minutes: num("booking_early_minutes", defaults.booking_early_minutes)?,
                        booking_late_minutes: num("booking_late_minutes", defaults.booking_late_minutes)?,
                        aging_minutes: num("aging_minutes", defaults.aging_minutes)?,
                        reactivate_placement: r
                            .opt_parsed("reactivate_placement", Placement::parse)?
                            .unwrap_or(defaults.reactivate_placement),
                        target_wait_minutes: num("target_wait_minutes", defaults.target_wait_minutes)?,
                    }
                }
            };
            let booking = match f.opt_map("booking")? {
                None => BookingRules::default(),
                Some(bm) => read_booking(&Fields::new(bm, format!("hall {id} booking")))?,
            };
            let mut windows = Vec::new();
            if let Some(wm) = f.opt_map("windows")? {
                let what = format!("hall {id} window");
                for e in entries(wm, &what) {
                    let (num, wf) = e?;
                    let number: u16 = num.parse().map_err(|_| wf.bad("(number)", num))?;
                    let mut services = Vec::new();
                    if let Some(sm) = wf.opt_map("services")? {
                        let sf = Fields::new(sm, format!("hall {id} window {num} services"));
                        for (k, v) in sm.iter() {
                            let weight = match &v.value {
                                hydrate::Value::Scalar(ScalarValue::Int(w)) => u32::try_from(*w).ok(),
                                hydrate::Value::Scalar(ScalarValue::Uint(w)) => u32::try_from(*w).ok(),
                                _ => None,
                            };
                            let weight = weight.ok_or_else(|| sf.bad("weight", k))?;
                            services.push(WindowService { service: ServiceId::new(k), weight });
                        }
                        services.sort_by(|a, b| a.service.cmp(&b.service));
                    }
                    windows.push(Window { number, name: read_text(&wf, "name", "name_en")?, services });
                }
            }
            windows.sort_by_key(|w| w.number);
            c.halls.insert(
                HallId::new(id),
                Hall {
                    id: HallId::new(id),
                    name: read_text(&f, "name", "name_en")?,
                    address: read_text(&f, "address", "address_en")?,
                    utc_offset_minutes: f
                        .opt_int("utc_offset_minutes")?
                        .unwrap_or(480)
                        .try_into()
                        .map_err(|_| f.bad("utc_offset_minutes", "(out of range)"))?,
                    windows,
                    rules,
                    booking,
                },
            );
        }
    }
    Ok(c)
}

fn opt_bool(f: &Fields<'_>, key: &'static str) -> Result<Option<bool>, DocError> {
    match f.map.get(key) {
        None | Some(hydrate::Value::Scalar(ScalarValue::Null)) => Ok(None),
        Some(hydrate::Value::Scalar(ScalarValue::Boolean(b))) => Ok(Some(*b)),
        Some(_) => Err(f.bad(key, "(not true or false)")),
    }
}

/// A hall's booking rules; every field absent reads as its default.
fn read_booking(f: &Fields<'_>) -> Result<BookingRules, DocError> {
    let d = BookingRules::default();
    let num = |k: &'static str, dv: u32| -> Result<u32, DocError> {
        f.opt_int(k)?.map_or(Ok(dv), |v| u32::try_from(v).map_err(|_| f.bad(k, v)))
    };
    let periods = match f.opt_str("periods")? {
        None => d.periods.clone(),
        Some("") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|p| p.parse::<Period>().map_err(|_| f.bad("periods", p)))
            .collect::<Result<_, _>>()?,
    };
    Ok(BookingRules {
        enabled: opt_bool(f, "enabled")?.unwrap_or(d.enabled),
        periods,
        slot_minutes: num("slot_minutes", d.slot_minutes)?,
        capacity: num("capacity", d.capacity)?,
        days_ahead: num("days_ahead", d.days_ahead)?,
        weekends: opt_bool(f, "weekends")?.unwrap_or(d.weekends),
    })
}
