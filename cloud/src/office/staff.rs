//! Window staff (in the catalogue, so halls check PINs and staff cards offline) and the back
//! office's own accounts.
//!
//! A PIN is typed once into the form, hashed with argon2 here and published as its hash; it is
//! never shown or stored in clear. A hall manager manages only staff of their halls.

use crate::core::accounts::{self as auth, Account, Area, Role};
use crate::core::catalog::{self, StaffInput};
use crate::ui::AppState;
use crate::ui::auth::{CsrfField, OfficeForm, Officer};
use crate::ui::forms::{after_publish, field, list, refused, saved_notice};
use crate::ui::office::{flash, office_page};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use onestop_model::HallId;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct Notice {
    #[serde(default)]
    saved: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

pub async fn page(
    o: Officer,
    State(state): State<AppState>,
    Query(q): Query<Notice>,
) -> Result<Markup, Response> {
    o.require(Area::Staff)?;
    let cat =
        state.core.catalog().map_err(|e| crate::ui::forms::refused(o.lang, &e.to_string(), "/office"))?;
    let lang = o.lang;
    Ok(office_page(
        &o,
        "工作人员",
        "Staff",
        html! {
            (saved_notice(lang, q.saved.is_some()))
            table {
                thead { tr {
                    th { (lang.t("工号", "Id")) } th { (lang.t("姓名", "Name")) } th { (lang.t("部门", "Department")) }
                    th { (lang.t("大厅", "Halls")) } th { (lang.t("工作卡", "Staff card")) } th {}
                } }
                tbody {
                    @for s in cat.staff.values().filter(|s| catalog::may_staff(&o.account, &s.halls)) {
                        tr {
                            td { code { (s.id) } }
                            td { (s.name) }
                            td { (s.department) }
                            td { (s.halls.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(", ")) }
                            td { @if s.card.is_some() { (lang.t("已登记", "registered")) } }
                            td {
                                form.inline method="post" action={ "/office/staff/" (s.id) "/delete" }
                                    data-confirm=(lang.one("删除此工作人员？其 PIN 和工作卡将在各大厅失效。", "Remove this staff member? Their PIN and card stop working in every hall.")) {
                                    (o.csrf_field())
                                    button.danger type="submit" { (lang.t("删除", "Remove")) }
                                }
                            }
                        }
                    }
                }
            }
            form.stack method="post" action="/office/staff" {
                (o.csrf_field())
                h2 { (lang.t("新增或修改工作人员", "Add or change a staff member")) }
                p.hint { (lang.t("修改已有人员时，PIN 留空则保持原 PIN。", "When changing someone, leave the PIN empty to keep theirs.")) }
                (field(lang, "id", "工号", "Staff id", "", true))
                (field(lang, "name", "姓名", "Name", "", true))
                label { (lang.t("部门", "Department"))
                    select name="department" {
                        @for d in cat.departments.values() { option value=(d.id) { (d.name.zh) " " (d.name.en) } }
                    }
                }
                (field(lang, "halls", "大厅编号（逗号分隔）", "Hall ids (comma-separated)", &o.account.halls.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(","), true))
                label { (lang.t("窗口 PIN（4–12 位数字）", "Window PIN (4–12 digits)")) input type="password" name="pin" inputmode="numeric" autocomplete="new-password"; }
                (field(lang, "card", "工作卡号（可选，用于刷卡登录）", "Staff card number (optional, for card login)", "", false))
                button type="submit" { (lang.t("保存并发布", "Save and publish")) }
            }
        },
    ))
}

#[derive(Deserialize)]
pub struct StaffForm {
    id: String,
    name: String,
    department: String,
    #[serde(default)]
    halls: String,
    #[serde(default)]
    pin: String,
    #[serde(default)]
    card: String,
}

pub async fn save(State(state): State<AppState>, f: OfficeForm<StaffForm>) -> Response {
    let OfficeForm { officer: o, form } = f;
    if let Err(r) = o.require(Area::Staff) {
        return r;
    }
    let input = StaffInput {
        id: form.id.trim().to_string(),
        name: form.name,
        department: form.department,
        halls: list(&form.halls).into_iter().map(HallId::new).collect(),
        pin: form.pin,
        card: form.card,
    };
    let core = state.core.clone();
    let by = o.account.clone();
    // Off the async threads: the PIN's argon2 hash takes a while.
    let result = crate::ui::blocking(move || catalog::save_staff(&core, &input, &by)).await;
    after_publish(&o, result, "/office/staff")
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: OfficeForm<CsrfField>,
) -> Response {
    let o = f.officer;
    if let Err(r) = o.require(Area::Staff) {
        return r;
    }
    let core = state.core.clone();
    let by = o.account.clone();
    let result = crate::ui::blocking(move || catalog::delete_staff(&core, &id, &by)).await;
    after_publish(&o, result, "/office/staff")
}

// ----- Back-office accounts (admins) -----

pub async fn accounts(
    o: Officer,
    State(state): State<AppState>,
    Query(q): Query<Notice>,
) -> Result<Markup, Response> {
    o.require(Area::Accounts)?;
    let core = state.core.clone();
    let list = crate::ui::blocking(move || auth::all(&core).map_err(crate::core::Error::from))
        .await
        .map_err(|e| crate::ui::error::respond(o.lang, &e))?;
    let lang = o.lang;
    Ok(office_page(
        &o,
        "后台账号",
        "Accounts",
        html! {
            @if let Some(d) = &q.done { (flash(lang, true, &format!("已完成：{d}"), &format!("Done: {d}"))) }
            table {
                thead { tr {
                    th { (lang.t("登录名", "Login")) } th { (lang.t("姓名", "Name")) } th { (lang.t("角色", "Role")) }
                    th { (lang.t("大厅", "Halls")) } th { (lang.t("状态", "State")) } th {}
                } }
                tbody {
                    @for a in &list {
                        tr {
                            td { code { (a.login) } }
                            td { (a.name) }
                            td { (lang.t(a.role.zh(), a.role.en())) }
                            td { @if a.halls.is_empty() { (lang.t("全部", "All")) } @else { (a.halls.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(", ")) } }
                            td { @if a.disabled { (lang.t("已停用", "disabled")) } @else { (lang.t("启用", "active")) } }
                            td {
                                @if a.login != o.account.login {
                                    form.inline method="post" action={ "/office/accounts/" (a.login) "/toggle" } {
                                        (o.csrf_field())
                                        button type="submit" { @if a.disabled { (lang.t("启用", "Enable")) } @else { (lang.t("停用", "Disable")) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form.stack method="post" action="/office/accounts" {
                (o.csrf_field())
                h2 { (lang.t("新建账号", "Make an account")) }
                (field(lang, "login", "登录名", "Login", "", true))
                (field(lang, "name", "姓名", "Name", "", true))
                label { (lang.t("角色", "Role"))
                    select name="role" { @for r in Role::ALL { option value=(r.as_str()) { (r.zh()) " " (r.en()) } } }
                }
                (field(lang, "halls", "大厅编号（逗号分隔，留空为全部）", "Hall ids, comma-separated (empty: all)", "", false))
                label { (lang.t("初始密码（至少 10 个字符）", "First password (at least 10 characters)"))
                    input type="password" name="password" autocomplete="new-password" required; }
                button type="submit" { (lang.t("创建", "Create")) }
            }
            form.stack method="post" action="/office/accounts/password" {
                (o.csrf_field())
                h2 { (lang.t("重设密码", "Reset a password")) }
                (field(lang, "login", "登录名", "Login", "", true))
                label { (lang.t("新密码", "New password")) input type="password" name="password" autocomplete="new-password" required; }
                button type="submit" { (lang.t("重设", "Reset")) }
            }
        },
    ))
}

#[derive(Deserialize)]
pub struct AccountForm {
    login: String,
    name: String,
    role: String,
    #[serde(default)]
    halls: String,
    password: String,
}

pub async fn create(State(state): State<AppState>, f: OfficeForm<AccountForm>) -> Response {
    let OfficeForm { officer: o, form } = f;
    if let Err(r) = o.require(Area::Accounts) {
        return r;
    }
    let Some(role) = Role::parse(&form.role) else {
        return refused(o.lang, "角色不明 / unknown role", "/office/accounts");
    };
    let acc = Account {
        login: form.login.trim().to_string(),
        name: form.name.clone(),
        role,
        halls: list(&form.halls).into_iter().map(HallId::new).collect(),
        disabled: false,
    };
    let core = state.core.clone();
    let made = crate::ui::blocking(move || {
        auth::create(&core, &acc, &form.password).map(|()| acc.login).map_err(crate::core::Error::from)
    })
    .await;
    done(&o, made)
}

/// After an account form: back to the list, or why not.
fn done(o: &Officer, result: Result<String, crate::core::Error>) -> Response {
    match result {
        Ok(login) => Redirect::to(&format!("/office/accounts?done={}", crate::ui::auth::urlencode(&login)))
            .into_response(),
        Err(crate::core::Error::Invalid(why) | crate::core::Error::Conflict(why)) => {
            refused(o.lang, &why, "/office/accounts")
        }
        Err(e) => crate::ui::error::respond(o.lang, &e),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    login: String,
    password: String,
}

pub async fn reset_password(State(state): State<AppState>, f: OfficeForm<PasswordForm>) -> Response {
    let OfficeForm { officer: o, form } = f;
    if let Err(r) = o.require(Area::Accounts) {
        return r;
    }
    let core = state.core.clone();
    let login = form.login.trim().to_string();
    let result = crate::ui::blocking(move || {
        auth::reset_password(&core, &login, &form.password).map(|()| login).map_err(crate::core::Error::from)
    })
    .await;
    done(&o, result)
}

pub async fn toggle(
    State(state): State<AppState>,
    Path(login): Path<String>,
    f: OfficeForm<CsrfField>,
) -> Response {
    let o = f.officer;
    if let Err(r) = o.require(Area::Accounts) {
        return r;
    }
    let core = state.core.clone();
    let by = o.account.login.clone();
    let result = crate::ui::blocking(move || {
        auth::toggle(&core, &login, &by).map(|_| login).map_err(crate::core::Error::from)
    })
    .await;
    done(&o, result)
}
