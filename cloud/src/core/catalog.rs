//! Editing the catalogue: departments and services with their guides, halls with their
//! windows and rules, and notices. Each operation checks its rules, edits a copy of the
//! published catalogue and publishes it through [`Core::publish`] (one write; a catalogue that
//! does not validate is never published). Who may do what: administrators the catalogue;
//! hall managers their own halls and their notices ([`Account::may_hall`]).

use super::accounts::{Account, Role};
use super::{Core, Error};
use onestop_model::{
    BookingRules, CaseKind, Catalog, Department, DepartmentId, Hall, HallId, Notice, NoticeId, Placement,
    QueueRules, Service, ServiceId, Text, Window,
};

/// A department as a form gives it.
#[derive(Debug, Clone)]
pub struct DepartmentInput {
    pub id: String,
    pub name: Text,
}

/// Adds or renames a department.
pub fn save_department(core: &Core, d: &DepartmentInput) -> Result<Catalog, Error> {
    onestop_model::check_item_id("部门", "department", &d.id).map_err(|e| Error::Invalid(e.to_string()))?;
    let name = required("中文名称", "Chinese name", &d.name.zh)?;
    core.publish(|cat| {
        let id = DepartmentId::new(&d.id);
        cat.departments.insert(id.clone(), Department { id, name: Text::new(name, d.name.en.trim()) });
        Ok(())
    })
}

/// A service as a form gives it.
#[derive(Debug, Clone)]
pub struct ServiceInput {
    /// A new service: an id already taken is refused (an edit replaces it).
    pub new: bool,
    pub id: String,
    pub department: String,
    pub name: Text,
    pub prefix: String,
    pub kind: String,
    pub guide: Text,
    pub expected_minutes: u32,
}

/// Adds or changes a service.
pub fn save_service(core: &Core, s: &ServiceInput) -> Result<Catalog, Error> {
    onestop_model::check_item_id("事项", "service", &s.id).map_err(|e| Error::Invalid(e.to_string()))?;
    let name = required("中文名称", "Chinese name", &s.name.zh)?;
    let prefix = s.prefix.trim().to_uppercase();
    let mut chars = prefix.chars();
    let (Some(p), None) = (chars.next(), chars.next()) else {
        return Err(Error::Invalid("号段须为一个字母 A–Z / the prefix is one letter A–Z".into()));
    };
    let kind = CaseKind::parse(&s.kind).ok_or("类型不明 / unknown kind")?;
    if !(1..=480).contains(&s.expected_minutes) {
        return Err(Error::Invalid(
            "预计办理分钟数须在 1 到 480 之间 / expected minutes are 1 to 480".into(),
        ));
    }
    core.publish(|cat| {
        let sid = ServiceId::new(&s.id);
        if s.new && cat.services.contains_key(&sid) {
            return Err(format!("事项 {} 已存在 / service {} already exists", s.id, s.id));
        }
        cat.services.insert(
            sid.clone(),
            Service {
                id: sid,
                department: DepartmentId::new(s.department.trim()),
                name: Text::new(name, s.name.en.trim()),
                prefix: p,
                kind,
                guide: Text::new(s.guide.zh.trim(), s.guide.en.trim()),
                expected_minutes: s.expected_minutes,
            },
        );
        Ok(())
    })
}

/// Removes a service that no window serves any more.
pub fn delete_service(core: &Core, id: &str) -> Result<Catalog, Error> {
    core.publish(|cat| {
        let sid = ServiceId::new(id);
        if cat.services.remove(&sid).is_none() {
            return Err(format!("没有事项 {id} / there is no service {id}"));
        }
        if let Some(h) =
            cat.halls.values().find(|h| h.windows.iter().any(|w| w.services.iter().any(|s| s.service == sid)))
        {
            return Err(format!(
                "大厅 {} 仍有窗口办理此事项，请先修改窗口 / windows of hall {} still serve it: change them first",
                h.id, h.id
            ));
        }
        Ok(())
    })
}

/// Adds a hall: its id by the rule every part checks (document ids, certificates), in the
/// campus's time zone, with no windows yet.
pub fn new_hall(core: &Core, id: &str, name: &Text) -> Result<Catalog, Error> {
    let hid = HallId::parse(id).map_err(|e| Error::Invalid(e.to_string()))?;
    let zh = required("中文名称", "Chinese name", &name.zh)?;
    core.publish(|cat| {
        if cat.halls.contains_key(&hid) {
            return Err(format!("大厅 {id} 已存在 / hall {id} already exists"));
        }
        let offset = cat.campus_offset();
        cat.halls.insert(
            hid.clone(),
            Hall {
                id: hid.clone(),
                name: Text::new(zh, name.en.trim()),
                address: Text::default(),
                utc_offset_minutes: offset,
                windows: vec![],
                rules: QueueRules::default(),
                booking: Default::default(),
            },
        );
        Ok(())
    })
}

/// What the hall form sets; rules the form does not show are kept as they are.
#[derive(Debug, Clone)]
pub struct HallEdit {
    pub name: Text,
    pub address: Text,
    pub max_recalls: u32,
    pub booking_early_minutes: u32,
    pub booking_late_minutes: u32,
    pub aging_minutes: u32,
    pub reactivate_placement: Placement,
    pub target_wait_minutes: u32,
    /// `None`: a form without the reservation rules (an older page) leaves them as they are.
    pub booking: Option<BookingRules>,
    pub windows: Vec<Window>,
}

/// Changes a hall, as `by` (who must work for it).
pub fn save_hall(core: &Core, id: &HallId, edit: HallEdit, by: &Account) -> Result<Catalog, Error> {
    if !by.may_hall(id) {
        return Err(Error::Forbidden);
    }
    let name = required("中文名称", "Chinese name", &edit.name.zh)?;
    core.publish(|cat| {
        let h = cat.halls.get_mut(id).ok_or_else(|| format!("没有大厅 {id} / there is no hall {id}"))?;
        h.name = Text::new(name, edit.name.en.trim());
        h.address = edit.address;
        let r = &mut h.rules;
        r.max_recalls = edit.max_recalls;
        r.booking_early_minutes = edit.booking_early_minutes;
        r.booking_late_minutes = edit.booking_late_minutes;
        r.aging_minutes = edit.aging_minutes;
        r.reactivate_placement = edit.reactivate_placement;
        r.target_wait_minutes = edit.target_wait_minutes;
        if let Some(b) = edit.booking {
            h.booking = b;
        }
        h.windows = edit.windows;
        Ok(())
    })
}

/// A notice as a form gives it; no halls means every hall.
#[derive(Debug, Clone)]
pub struct NoticeInput {
    pub title: Text,
    pub body: Text,
    pub halls: Vec<HallId>,
}

/// Whether `by` may publish or withdraw a notice for `halls`: administrators any; others
/// only notices for named halls that are all their own.
pub fn may_notice(by: &Account, halls: &[HallId]) -> bool {
    by.role == Role::Admin || (!halls.is_empty() && halls.iter().all(|h| by.may_hall(h)))
}

/// Publishes a notice at the core's time, as `by`.
pub fn publish_notice(core: &Core, n: &NoticeInput, by: &Account) -> Result<Catalog, Error> {
    if !may_notice(by, &n.halls) {
        return Err(Error::Invalid(
            "只能向自己负责的大厅发布通知 / you may publish notices only to your own halls".into(),
        ));
    }
    let title = required("标题", "title", &n.title.zh)?;
    let t = core.now();
    core.publish(|cat| {
        if let Some(h) = n.halls.iter().find(|h| !cat.halls.contains_key(*h)) {
            return Err(format!("没有大厅 {h} / there is no hall {h}"));
        }
        let id = NoticeId::new(format!("n{}", t.0));
        cat.notices.insert(
            id.clone(),
            Notice {
                id,
                title: Text::new(title, n.title.en.trim()),
                body: Text::new(n.body.zh.trim(), n.body.en.trim()),
                published: t,
                halls: n.halls.clone(),
            },
        );
        Ok(())
    })
}

/// Withdraws a notice, as `by`.
pub fn delete_notice(core: &Core, id: &str, by: &Account) -> Result<Catalog, Error> {
    core.publish(|cat| {
        let nid = NoticeId::new(id);
        let n = cat.notices.get(&nid).ok_or_else(|| format!("没有通知 {id} / there is no notice {id}"))?;
        if !may_notice(by, &n.halls) {
            return Err("只能撤下自己负责大厅的通知 / you may withdraw only your own halls' notices".into());
        }
        cat.notices.remove(&nid);
        Ok(())
    })
}

/// Text that must not be empty (nor over 4,000 characters), trimmed.
pub fn required(what_zh: &str, what_en: &str, s: &str) -> Result<String, Error> {
    let t = s.trim();
    if t.is_empty() {
        Err(Error::Invalid(format!("{what_zh}不能为空 / the {what_en} is empty")))
    } else if t.chars().count() > 4000 {
        Err(Error::Invalid(format!("{what_zh}过长 / the {what_en} is too long (at most 4,000 characters)")))
    } else {
        Ok(t.to_string())
    }
}

/// A staff member as a form gives it: the PIN in clear (hashed here), empty to keep the one
/// they have.
#[derive(Debug, Clone)]
pub struct StaffInput {
    pub id: String,
    pub name: String,
    pub department: String,
    pub halls: Vec<HallId>,
    pub pin: String,
    pub card: String,
}

/// May `by` manage a staff member of `halls`? (Hall managers: only staff whose halls are all
/// theirs.)
pub fn may_staff(by: &Account, halls: &[HallId]) -> bool {
    by.role == Role::Admin
        || by.halls.is_empty()
        || (!halls.is_empty() && halls.iter().all(|h| by.may_hall(h)))
}

/// Adds or changes a staff member who may work at windows, as `by`. The PIN is stored as an
/// argon2 hash only; a staff card is registered to one person.
pub fn save_staff(core: &Core, s: &StaffInput, by: &Account) -> Result<Catalog, Error> {
    if !may_staff(by, &s.halls) {
        return Err(Error::Invalid(
            "只能管理自己负责大厅的工作人员 / you may manage only your own halls' staff".into(),
        ));
    }
    onestop_model::check_item_id("工号", "staff", &s.id).map_err(|e| Error::Invalid(e.to_string()))?;
    let name = required("姓名", "name", &s.name)?;
    let pin_hash = if s.pin.is_empty() {
        None
    } else {
        Some(onestop_protocol::secrets::hash_pin(s.pin.trim()).map_err(|e| Error::Invalid(e.to_string()))?)
    };
    let card = Some(s.card.trim().to_string()).filter(|c| !c.is_empty());
    core.publish(|cat| {
        if let Some(h) = s.halls.iter().find(|h| !cat.halls.contains_key(*h)) {
            return Err(format!("没有大厅 {h} / there is no hall {h}"));
        }
        let sid = onestop_model::StaffId::new(&s.id);
        if let Some(old) = cat.staff.get(&sid)
            && !may_staff(by, &old.halls)
        {
            return Err("此工号属于其他大厅 / this staff id belongs to another hall".into());
        }
        if let Some(c) = &card
            && let Some(other) = cat.staff.values().find(|x| x.id != sid && x.card.as_ref() == Some(c))
        {
            return Err(format!("工作卡已登记给 {} / that card is registered to {}", other.id, other.id));
        }
        let pin_hash = match (pin_hash, cat.staff.get(&sid)) {
            (Some(h), _) => h,
            (None, Some(old)) => old.pin_hash.clone(),
            (None, None) => return Err("新人员须设置 PIN / a new staff member needs a PIN".into()),
        };
        cat.staff.insert(
            sid.clone(),
            onestop_model::Staff {
                id: sid,
                name,
                department: DepartmentId::new(s.department.trim()),
                pin_hash,
                halls: s.halls.clone(),
                card,
            },
        );
        Ok(())
    })
}

/// Removes a staff member, as `by`.
pub fn delete_staff(core: &Core, id: &str, by: &Account) -> Result<Catalog, Error> {
    core.publish(|cat| {
        let sid = onestop_model::StaffId::new(id);
        let s = cat.staff.get(&sid).ok_or_else(|| format!("没有工号 {id} / there is no staff id {id}"))?;
        if !may_staff(by, &s.halls) {
            return Err("只能管理自己负责大厅的工作人员 / you may manage only your own halls' staff".into());
        }
        cat.staff.remove(&sid);
        Ok(())
    })
}
