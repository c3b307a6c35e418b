//! The back office's frame: its navigation (only the parts the account's role may use), the
//! signed-in account and the logout button.

use super::auth::Officer;
use super::{Lang, page};
use crate::core::accounts::Area;
use maud::{Markup, html};

/// The back office's parts: path, area, Chinese and English titles.
pub const PARTS: &[(&str, Area, &str, &str)] = &[
    ("/office/catalog", Area::Catalog, "事项目录", "Catalogue"),
    ("/office/halls", Area::Halls, "大厅与公告", "Halls and notices"),
    ("/office/staff", Area::Staff, "工作人员", "Staff"),
    ("/office/cards", Area::Cards, "校园卡名录", "Campus cards"),
    ("/office/cases", Area::Cases, "待审事项", "Case review"),
    ("/office/qa", Area::Qa, "咨询答复", "Q&A"),
    ("/office/followups", Area::FollowUps, "好差评回访", "Rating follow-ups"),
    ("/office/stats", Area::Stats, "统计", "Statistics"),
    ("/office/nodes", Area::Nodes, "设备清单", "Node inventory"),
    ("/office/accounts", Area::Accounts, "后台账号", "Accounts"),
];

/// A back-office page: the site frame with the office's navigation above `body`.
pub fn office_page(o: &Officer, title_zh: &str, title_en: &str, body: Markup) -> Markup {
    let lang = o.lang;
    page(
        lang,
        lang.one(title_zh, title_en),
        None,
        html! {
            nav.office aria-label=(lang.one("后台", "Back office")) {
                ul {
                    li { a href="/office" { (lang.t("后台首页", "Back office")) } }
                    @for (href, area, zh, en) in PARTS {
                        @if o.account.role.may(*area) {
                            li { a href=(href) { (lang.t(zh, en)) } }
                        }
                    }
                }
                form.inline method="post" action="/office/logout" {
                    (o.csrf_field())
                    span.who { (o.account.name) " · " (lang.t(o.account.role.zh(), o.account.role.en())) }
                    " "
                    button type="submit" { (lang.t("退出登录", "Log out")) }
                }
            }
            h1 { (lang.t(title_zh, title_en)) }
            (body)
        },
    )
}

/// A notice at the top of a page after a form was handled.
pub fn flash(lang: Lang, ok: bool, zh: &str, en: &str) -> Markup {
    if ok {
        html! { p.ok role="status" { (lang.t(zh, en)) } }
    } else {
        html! { p.error role="alert" { (lang.t(zh, en)) } }
    }
}
