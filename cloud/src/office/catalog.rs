//! Editing the catalogue: departments and services with their guides (admins), halls with
//! their windows and queue rules, and notices (admins; a hall manager for their own halls).
//! Every save publishes the whole catalogue document, which every hall takes up within
//! seconds of receiving it; a catalogue that does not validate is never published.

use crate::core::accounts::Area;
use crate::core::catalog::{self, DepartmentInput, HallEdit, NoticeInput, ServiceInput};
use crate::ui::AppState;
use crate::ui::auth::{OfficeForm, Officer};
use crate::ui::forms::{after_publish, area, field, list, number, required, saved_notice};
use crate::ui::office::office_page;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{Markup, html};
use onestop_model::{
    CaseKind, DepartmentId, HallId, Placement, Service, ServiceId, Text, Window, WindowService,
};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct Saved {
    #[serde(default)]
    saved: Option<String>,
}

fn catalog_or_error(state: &AppState) -> Result<onestop_model::Catalog, Response> {
    state.core.catalog().map_err(|e| {
        crate::ui::problem(
            crate::ui::Lang::Zh,
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            &format!("无法读取目录：{e}"),
            &format!("Cannot read the catalogue: {e}"),
        )
    })
}

// ----- Departments and services -----

pub async fn page(
    o: Officer,
    State(state): State<AppState>,
    Query(q): Query<Saved>,
) -> Result<Markup, Response> {
    o.require(Area::Catalog)?;
    let cat = catalog_or_error(&state)?;
    let lang = o.lang;
    Ok(office_page(
        &o,
        "事项目录",
        "Catalogue",
        html! {
            (saved_notice(lang, q.saved.is_some()))
            h2 { (lang.t("部门", "Departments")) }
            table {
                thead { tr { th { (lang.t("编号", "Id")) } th { (lang.t("名称", "Name")) } } }
                tbody {
                    @for d in cat.departments.values() {
                        tr { td { code { (d.id) } } td { (lang.text(&d.name)) } }
                    }
                }
            }
            form.stack method="post" action="/office/catalog/department" {
                (o.csrf_field())
                h3 { (lang.t("新增或修改部门", "Add or change a department")) }
                (field(lang, "id", "编号", "Id", "", true))
                (field(lang, "zh", "中文名称", "Name in Chinese", "", true))
                (field(lang, "en", "英文名称", "Name in English", "", false))
                button type="submit" { (lang.t("保存并发布", "Save and publish")) }
            }
            h2 { (lang.t("办理事项", "Services")) }
            p { a.button href="/office/catalog/service/new" { (lang.t("新增事项", "Add a service")) } }
            table {
                thead { tr {
                    th { (lang.t("编号", "Id")) } th { (lang.t("名称", "Name")) } th { (lang.t("部门", "Department")) }
                    th { (lang.t("号段", "Prefix")) } th { (lang.t("类型", "Kind")) } th {}
                } }
                tbody {
                    @for s in cat.services.values() {
                        tr {
                            td { code { (s.id) } }
                            td { (lang.text(&s.name)) }
                            td { (s.department) }
                            td { (s.prefix) }
                            td { (kind_label(lang, s.kind)) }
                            td { a href={ "/office/catalog/service/" (s.id) } { (lang.t("修改", "Edit")) } }
                        }
                    }
                }
            }
        },
    ))
}

fn kind_label(lang: crate::ui::Lang, k: CaseKind) -> Markup {
    match k {
        CaseKind::Immediate => lang.t("即办件", "Immediate"),
        CaseKind::Pending => lang.t("承诺件", "Pending"),
    }
}

#[derive(Deserialize)]
pub struct DepartmentForm {
    id: String,
    zh: String,
    #[serde(default)]
    en: String,
}

pub async fn save_department(State(state): State<AppState>, f: OfficeForm<DepartmentForm>) -> Response {
    let OfficeForm { officer: o, form } = f;
    if let Err(r) = o.require(Area::Catalog) {
        return r;
    }
    let input = DepartmentInput { id: form.id.trim().to_string(), name: Text::new(form.zh, form.en) };
    let core = state.core.clone();
    let result = crate::ui::blocking(move || catalog::save_department(&core, &input)).await;
    after_publish(&o, result, "/office/catalog")
}

pub async fn service_form(
    o: Officer,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Markup, Response> {
    o.require(Area::Catalog)?;
    let cat = catalog_or_error(&state)?;
    let lang = o.lang;
    let new = id == "new";
    let s = cat.services.get(&ServiceId::new(&id)).cloned();
    if !new && s.is_none() {
        return Err(crate::ui::problem(
            lang,
            axum::http::StatusCode::NOT_FOUND,
            "没有这个事项。",
            "There is no such service.",
        ));
    }
    let s = s.unwrap_or(Service {
        id: ServiceId::new(""),
        department: cat.departments.keys().next().cloned().unwrap_or(DepartmentId::new("")),
        name: Text::default(),
        prefix: 'A',
        kind: CaseKind::Immediate,
        guide: Text::default(),
        expected_minutes: 5,
    });
    Ok(office_page(
        &o,
        if new { "新增事项" } else { "修改事项" },
        if new { "Add a service" } else { "Change a service" },
        html! {
            form.stack method="post" action="/office/catalog/service" {
                (o.csrf_field())
                input type="hidden" name="new" value=(if new { "1" } else { "0" });
                @if new {
                    (field(lang, "id", "编号", "Id", "", true))
                } @else {
                    input type="hidden" name="id" value=(s.id);
                    p { (lang.t("编号", "Id")) " " code { (s.id) } }
                }
                label { (lang.t("部门", "Department"))
                    select name="department" {
                        @for d in cat.departments.values() {
                            option value=(d.id) selected[d.id == s.department] { (d.name.zh) " " (d.name.en) }
                        }
                    }
                }
                (field(lang, "name_zh", "中文名称", "Name in Chinese", &s.name.zh, true))
                (field(lang, "name_en", "英文名称", "Name in English", &s.name.en, false))
                (field(lang, "prefix", "号段字母（A–Z）", "Ticket prefix (A–Z)", &s.prefix.to_string(), true))
                label { (lang.t("类型", "Kind"))
                    select name="kind" {
                        option value="immediate" selected[s.kind == CaseKind::Immediate] { "即办件 Immediate" }
                        option value="pending" selected[s.kind == CaseKind::Pending] { "承诺件 Pending" }
                    }
                }
                (number(lang, "expected_minutes", "预计办理分钟数", "Expected minutes at the window", s.expected_minutes))
                (area(lang, "guide_zh", "办事指南（中文）：材料、流程、时限、收费、地点", "Guide in Chinese: materials, steps, time limit, fees, where", &s.guide.zh))
                (area(lang, "guide_en", "办事指南（英文）", "Guide in English", &s.guide.en))
                button type="submit" { (lang.t("保存并发布", "Save and publish")) }
            }
            @if !new {
                form method="post" action={ "/office/catalog/service/" (s.id) "/delete" }
                    data-confirm=(lang.one("删除此事项？各大厅将不再提供它。", "Delete this service? No hall will offer it any more.")) {
                    (o.csrf_field())
                    button.danger type="submit" { (lang.t("删除此事项", "Delete this service")) }
                }
            }
        },
    ))
}

#[derive(Deserialize)]
pub struct ServiceForm {
    id: String,
    #[serde(default)]
    new: String,
    department: String,
    name_zh: String,
    #[serde(default)]
    name_en: String,
    prefix: String,
    kind: String,
    expected_minutes: u32,
    #[serde(default)]
    guide_zh: String,
    #[serde(default)]
    guide_en: String,
}

pub async fn save_service(State(state): State<AppState>, f: OfficeForm<ServiceForm>) -> Response {
    let OfficeForm { officer: o, form } = f;
    if let Err(r) = o.require(Area::Catalog) {
        return r;
    }
    let input = ServiceInput {
        new: form.new == "1",
        id: form.id.trim().to_string(),
        department: form.department,
        name: Text::new(form.name_zh, form.name_en),
        prefix: form.prefix,
        kind: form.kind,
        guide: Text::new(form.guide_zh, form.guide_en),
        expected_minutes: form.expected_minutes,
    };
    let core = state.core.clone();
    let result = crate::ui::blocking(move || catalog::save_service(&core, &input)).await;
    after_publish(&o, result, "/office/catalog")
}

pub async fn delete_service(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: OfficeForm<crate::ui::auth::CsrfField>,
) -> Response {
    let o = f.officer;
    if let Err(r) = o.require(Area::Catalog) {
        return r;
    }
    let core = state.core.clone();
    let result = crate::ui::blocking(move || catalog::delete_service(&core, &id)).await;
    after_publish(&o, result, "/office/catalog")
}

// ----- Halls, windows, rules, notices -----

pub async fn halls(
    o: Officer,
    State(state): State<AppState>,
    Query(q): Query<Saved>,
) -> Result<Markup, Response> {
    o.require(Area::Halls)?;
    let cat = catalog_or_error(&state)?;
    let lang = o.lang;
    let admin = o.account.role == crate::core::accounts::Role::Admin;
    Ok(office_page(
        &o,
        "大厅与公告",
        "Halls and notices",
        html! {
            (saved_notice(lang, q.saved.is_some()))
            h2 { (lang.t("大厅", "Halls")) }
            ul {
                @for h in cat.halls.values().filter(|h| o.may_hall(&h.id)) {
                    li { a href={ "/office/halls/" (h.id) } { (lang.text(&h.name)) } " (" code { (h.id) } ", "
                        (h.windows.len()) " " (lang.one("个窗口", "windows")) ")" }
                }
            }
            @if admin {
                form.stack method="post" action="/office/catalog/hall" {
                    (o.csrf_field())
                    h3 { (lang.t("新增大厅", "Add a hall")) }
                    (field(lang, "id", "编号", "Id", "", true))
                    (field(lang, "zh", "中文名称", "Name in Chinese", "", true))
                    (field(lang, "en", "英文名称", "Name in English", "", false))
                    button type="submit" { (lang.t("保存并发布", "Save and publish")) }
                }
            }
            h2 { (lang.t("通知公告", "Notices")) }
            table {
                thead { tr { th { (lang.t("标题", "Title")) } th { (lang.t("大厅", "Halls")) } th {} } }
                tbody {
                    @for n in cat.notices.values().rev() {
                        tr {
                            td { (lang.text(&n.title)) }
                            td { @if n.halls.is_empty() { (lang.t("全部", "All")) } @else { (n.halls.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(", ")) } }
                            td { @if catalog::may_notice(&o.account, &n.halls) {
                                form.inline method="post" action={ "/office/notices/" (n.id) "/delete" }
                                    data-confirm=(lang.one("撤下此通知？", "Withdraw this notice?")) {
                                    (o.csrf_field())
                                    button.danger type="submit" { (lang.t("撤下", "Withdraw")) }
                                }
                            } }
                        }
                    }
                }
            }
            form.stack method="post" action="/office/notices" {
                (o.csrf_field())
                h3 { (lang.t("发布通知", "Publish a notice")) }
                (field(lang, "title_zh", "标题（中文）", "Title in Chinese", "", true))
                (field(lang, "title_en", "标题（英文）", "Title in English", "", false))
                (area(lang, "body_zh", "正文（中文）", "Text in Chinese", ""))
                (area(lang, "body_en", "正文（英文）", "Text in English", ""))
                (field(lang, "halls", "大厅编号（逗号分隔，留空为全部大厅）", "Hall ids, comma-separated (empty: every hall)", "", !admin))
                button type="submit" { (lang.t("发布", "Publish")) }
            }
        },
    ))
}

#[derive(Deserialize)]
pub struct NewHall {
    id: String,
    zh: String,
    #[serde(default)]
    en: String,
}

pub async fn new_hall(State(state): State<AppState>, f: OfficeForm<NewHall>) -> Response {
    let OfficeForm { officer: o, form } = f;
    if let Err(r) = o.require(Area::Catalog) {
        return r;
    }
    let id = form.id.trim().to_string();
    let back = format!("/office/halls/{id}");
    let core = state.core.clone();
    let name = Text::new(form.zh, form.en);
    let result = crate::ui::blocking(move || catalog::new_hall(&core, &id, &name)).await;
    after_publish(&o, result, &back)
}

/// "cert:2, transcript" → services with weights.
fn parse_window_services(s: &str) -> Result<Vec<WindowService>, String> {
    list(s)
        .into_iter()
        .map(|item| {
            let (id, w) = match item.split_once([':', '：']) {
                Some((id, w)) => (
                    id.trim().to_string(),
                    w.trim()
                        .parse::<u32>()
                        .map_err(|_| format!("权重“{w}”不是数字 / weight \"{w}\" is not a number"))?,
                ),
                None => (item.clone(), 1),
            };
            if w == 0 {
                return Err(format!("{id} 的权重须至少为 1 / the weight of {id} is at least 1"));
            }
            Ok(WindowService { service: ServiceId::new(id), weight: w })
        })
        .collect()
}

fn window_services_text(w: &Window) -> String {
    w.services
        .iter()
        .map(|s| if s.weight == 1 { s.service.to_string() } else { format!("{}:{}", s.service, s.weight) })
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn hall(
    o: Officer,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<Saved>,
) -> Result<Markup, Response> {
    o.require(Area::Halls)?;
    let hid = HallId::new(&id);
    o.require_hall(&hid)?;
    let cat = catalog_or_error(&state)?;
    let lang = o.lang;
    let Some(h) = cat.halls.get(&hid) else {
        return Err(crate::ui::problem(
            lang,
            axum::http::StatusCode::NOT_FOUND,
            "没有这个大厅。",
            "There is no such hall.",
        ));
    };
    let r = &h.rules;
    let action = format!("/office/halls/{id}");
    Ok(office_page(
        &o,
        &h.name.zh,
        &h.name.en,
        html! {
            (saved_notice(lang, q.saved.is_some()))
            form.stack method="post" action=(action) {
                (o.csrf_field())
                h2 { (lang.t("大厅信息与排队规则", "The hall and its queue rules")) }
                (field(lang, "name_zh", "中文名称", "Name in Chinese", &h.name.zh, true))
                (field(lang, "name_en", "英文名称", "Name in English", &h.name.en, false))
                (field(lang, "address_zh", "地址（中文）", "Address in Chinese", &h.address.zh, false))
                (field(lang, "address_en", "地址（英文）", "Address in English", &h.address.en, false))
                (number(lang, "max_recalls", "最多重呼次数", "Recalls before a no-show", r.max_recalls))
                (number(lang, "booking_early_minutes", "预约可提前签到分钟数", "Booking check-in opens (minutes before the slot)", r.booking_early_minutes))
                (number(lang, "booking_late_minutes", "预约迟到宽限分钟数", "Booking check-in closes (minutes after the slot starts)", r.booking_late_minutes))
                (number(lang, "aging_minutes", "等候升级分钟数", "Minutes of waiting that lift a ticket one class", r.aging_minutes))
                (number(lang, "target_wait_minutes", "目标等候分钟数", "Target wait (minutes)", r.target_wait_minutes))
                label { (lang.t("过号重新激活后的位置", "Where a reactivated ticket goes"))
                    select name="reactivate_placement" {
                        @for (p, zh, en) in [(Placement::Back, "队尾", "Back"), (Placement::Front, "队首", "Front"), (Placement::Original, "原位置", "Original place")] {
                            option value=(p.as_str()) selected[r.reactivate_placement == p] { (zh) " " (en) }
                        }
                    }
                }
                h2 { (lang.t("网上预约", "Online reservations")) }
                @let b = &h.booking;
                label.check { input type="checkbox" name="booking_enabled" value="1" checked[b.enabled]; " " (lang.t("接受网上预约", "Take online reservations")) }
                (field(lang, "booking_periods", "可预约时段（如 08:30-11:30, 14:00-17:00）", "Bookable periods (e.g. 08:30-11:30, 14:00-17:00)",
                    &b.periods.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", "), false))
                (number(lang, "booking_slot_minutes", "每个时段分钟数", "Minutes a slot", b.slot_minutes))
                (number(lang, "booking_capacity", "每个时段每个事项的名额", "Places a slot, per service", b.capacity))
                (number(lang, "booking_days_ahead", "最多提前几天预约", "Days ahead a slot may be booked", b.days_ahead))
                label.check { input type="checkbox" name="booking_weekends" value="1" checked[b.weekends]; " " (lang.t("周末可预约", "Weekends are bookable")) }
                h2 { (lang.t("窗口", "Windows")) }
                p.hint { (lang.t("每个窗口填写其办理的事项编号，逗号分隔；需要加权时写“事项:权重”。删除窗口：清空其事项。",
                    "For each window, the ids of the services it serves, comma-separated; \"service:weight\" to weight one. To remove a window, empty its services.")) }
                table {
                    thead { tr { th { (lang.t("窗口号", "No.")) } th { (lang.t("名称（中文）", "Name (Chinese)")) } th { (lang.t("名称（英文）", "Name (English)")) } th { (lang.t("办理事项", "Services")) } } }
                    tbody {
                        @for (i, w) in h.windows.iter().enumerate() {
                            tr {
                                td { input type="number" min="1" name={ "w" (i) "_no" } value=(w.number); }
                                td { input name={ "w" (i) "_zh" } value=(w.name.zh); }
                                td { input name={ "w" (i) "_en" } value=(w.name.en); }
                                td { input name={ "w" (i) "_services" } value=(window_services_text(w)); }
                            }
                        }
                        @let i = h.windows.len();
                        tr {
                            td { input type="number" min="1" name={ "w" (i) "_no" } placeholder=(lang.one("新窗口", "new")); }
                            td { input name={ "w" (i) "_zh" }; }
                            td { input name={ "w" (i) "_en" }; }
                            td { input name={ "w" (i) "_services" }; }
                        }
                    }
                }
                p.hint { (lang.t("可用事项：", "Services: ")) @for s in cat.services.values() { code { (s.id) } " " } }
                button type="submit" { (lang.t("保存并发布", "Save and publish")) }
            }
        },
    ))
}

pub async fn save_hall(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: OfficeForm<std::collections::HashMap<String, String>>,
) -> Response {
    let OfficeForm { officer: o, form } = f;
    if let Err(r) = o.require(Area::Halls) {
        return r;
    }
    let hid = HallId::new(&id);
    if let Err(r) = o.require_hall(&hid) {
        return r;
    }
    let back = format!("/office/halls/{id}");
    let get = |k: &str| form.get(k).map(|s| s.trim().to_string()).unwrap_or_default();
    let num = |k: &str| -> Result<u32, String> {
        get(k).parse::<u32>().map_err(|_| format!("“{k}”须为非负整数 / \"{k}\" must be a whole number"))
    };
    let result = (|| -> Result<HallEdit, crate::core::Error> {
        let name = required("中文名称", "Chinese name", &get("name_zh"))?;
        let (max_recalls, early, late, aging, target) = (
            num("max_recalls")?,
            num("booking_early_minutes")?,
            num("booking_late_minutes")?,
            num("aging_minutes")?,
            num("target_wait_minutes")?,
        );
        let placement =
            Placement::parse(&get("reactivate_placement")).ok_or("位置不明 / unknown placement")?;
        // Reservations: the form shows them since they were added; a form without them
        // (an older page) leaves them as they are.
        let booking = if form.contains_key("booking_slot_minutes") {
            let periods = list(&get("booking_periods"))
                .iter()
                .map(|p| {
                    p.parse::<onestop_model::Period>()
                        .map_err(|e| format!("预约时段 / booking period: {}", e.0))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Some(onestop_model::BookingRules {
                enabled: get("booking_enabled") == "1",
                periods,
                slot_minutes: num("booking_slot_minutes")?,
                capacity: num("booking_capacity")?,
                days_ahead: num("booking_days_ahead")?,
                weekends: get("booking_weekends") == "1",
            })
        } else {
            None
        };
        let mut windows = Vec::new();
        for i in 0..500 {
            let Some(no) = form.get(&format!("w{i}_no")) else { break };
            let services = parse_window_services(&get(&format!("w{i}_services")))?;
            if no.trim().is_empty() || services.is_empty() {
                continue;
            }
            let number: u16 = no
                .trim()
                .parse()
                .map_err(|_| format!("窗口号“{no}”不是数字 / window number \"{no}\" is not a number"))?;
            windows.push(Window {
                number,
                name: Text::new(get(&format!("w{i}_zh")), get(&format!("w{i}_en"))),
                services,
            });
        }
        Ok(HallEdit {
            name: Text::new(name, get("name_en")),
            address: Text::new(get("address_zh"), get("address_en")),
            max_recalls,
            booking_early_minutes: early,
            booking_late_minutes: late,
            aging_minutes: aging,
            reactivate_placement: placement,
            target_wait_minutes: target,
            booking,
            windows,
        })
    })();
    let result = match result {
        Ok(edit) => {
            let core = state.core.clone();
            let by = o.account.clone();
            crate::ui::blocking(move || catalog::save_hall(&core, &hid, edit, &by)).await
        }
        Err(e) => Err(e),
    };
    after_publish(&o, result, &back)
}

#[derive(Deserialize)]
pub struct NoticeForm {
    title_zh: String,
    #[serde(default)]
    title_en: String,
    #[serde(default)]
    body_zh: String,
    #[serde(default)]
    body_en: String,
    #[serde(default)]
    halls: String,
}

pub async fn publish_notice(State(state): State<AppState>, f: OfficeForm<NoticeForm>) -> Response {
    let OfficeForm { officer: o, form } = f;
    if let Err(r) = o.require(Area::Halls) {
        return r;
    }
    let input = NoticeInput {
        title: Text::new(form.title_zh, form.title_en),
        body: Text::new(form.body_zh, form.body_en),
        halls: list(&form.halls).into_iter().map(HallId::new).collect(),
    };
    let core = state.core.clone();
    let by = o.account.clone();
    let result = crate::ui::blocking(move || catalog::publish_notice(&core, &input, &by)).await;
    after_publish(&o, result, "/office/halls")
}

pub async fn delete_notice(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: OfficeForm<crate::ui::auth::CsrfField>,
) -> Response {
    let o = f.officer;
    if let Err(r) = o.require(Area::Halls) {
        return r;
    }
    let core = state.core.clone();
    let by = o.account.clone();
    let result = crate::ui::blocking(move || catalog::delete_notice(&core, &id, &by)).await;
    after_publish(&o, result, "/office/halls")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_services_parse_with_weights() {
        let ws = parse_window_services("cert:2, transcript，loan").unwrap();
        assert_eq!(ws.len(), 3);
        assert_eq!(ws[0].weight, 2);
        assert_eq!(ws[1].service, ServiceId::new("transcript"));
        assert!(parse_window_services("cert:0").is_err());
        assert!(parse_window_services("cert:x").is_err());
        let w = Window { number: 1, name: Text::default(), services: ws };
        assert_eq!(window_services_text(&w), "cert:2, transcript, loan");
    }
}
