//! The node inventory from the provisioning registry: every hall's nodes with their version,
//! last report, sync lag, clock offset, printer, free disk and certificate expiry; admins
//! approve waiting devices and revoke nodes here as with `onestop-provision`.

use crate::core::accounts::{Area, Role};
use crate::core::nodes::{self, NodeAction};
use crate::ui::AppState;
use crate::ui::auth::{CsrfField, OfficeForm, Officer};
use crate::ui::forms::refused;
use crate::ui::office::{flash, office_page};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use onestop_provision::registry::NodeStatus;
use std::time::{Duration, SystemTime};

#[derive(serde::Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
}

fn ago(now: SystemTime, t: Option<SystemTime>) -> String {
    match t.and_then(|t| now.duration_since(t).ok()) {
        None => "—".into(),
        Some(d) if d < Duration::from_secs(120) => format!("{} s", d.as_secs()),
        Some(d) if d < Duration::from_secs(7200) => format!("{} min", d.as_secs() / 60),
        Some(d) if d < Duration::from_secs(172_800) => format!("{} h", d.as_secs() / 3600),
        Some(d) => format!("{} d", d.as_secs() / 86_400),
    }
}

/// A time in the campus's zone (`offset` minutes east of UTC).
fn date(t: Option<SystemTime>, offset: i32) -> String {
    let Some(t) = t else { return "—".into() };
    let ms = t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let ts = onestop_model::Timestamp(ms);
    format!("{} {}", ts.day(offset), ts.local_hm(offset))
}

fn status(lang: crate::ui::Lang, s: NodeStatus) -> Markup {
    match s {
        NodeStatus::Pending => lang.t("待批准", "pending"),
        NodeStatus::Active => lang.t("在用", "active"),
        NodeStatus::Revoked => lang.t("已吊销", "revoked"),
    }
}

pub async fn page(
    o: Officer,
    State(state): State<AppState>,
    Query(q): Query<Done>,
) -> Result<Markup, Response> {
    o.require(Area::Nodes)?;
    let lang = o.lang;
    let core = state.core.clone();
    let by = o.account.clone();
    let nodes: Vec<nodes::NodeView> = match crate::ui::blocking(move || nodes::list(&core, &by)).await {
        Ok(n) => n,
        Err(crate::core::Error::Invalid(why)) => return Err(refused(lang, &why, "/office")),
        Err(e) => return Err(crate::ui::error::respond(lang, &e)),
    };
    let admin = o.account.role == Role::Admin;
    let now = state.core.system_time();
    let offset = state.cache.get().catalog.campus_offset();
    let site = state.cache.get();
    let online = |h: &onestop_model::HallId| site.halls.get(h).is_some_and(|l| l.heard.online);
    Ok(office_page(
        &o,
        "设备清单",
        "Node inventory",
        html! {
            @if let Some(d) = &q.done { (flash(lang, true, &format!("已完成：{d}"), &format!("Done: {d}"))) }
            table.nodes {
                thead { tr {
                    th { (lang.t("节点", "Node")) } th { (lang.t("大厅", "Hall")) } th { (lang.t("状态", "State")) }
                    th { (lang.t("在线", "Online")) } th { (lang.t("版本", "Version")) } th { (lang.t("上次报告", "Last report")) }
                    th { (lang.t("同步延迟", "Sync lag")) } th { (lang.t("时钟偏差", "Clock offset")) } th { (lang.t("打印机", "Printer")) }
                    th { (lang.t("剩余磁盘", "Disk free")) } th { (lang.t("证书到期", "Certificate until")) } th { (lang.t("设备", "Device")) }
                    th { (lang.t("拒收事件", "Refusals")) }
                    @if admin { th {} }
                } }
                tbody {
                    @for v in &nodes {
                        @let n = &v.record;
                        tr {
                            td { code { (n.node) } }
                            td { (n.hall) }
                            td { (status(lang, n.status)) @if n.pending_device.is_some() && n.status != NodeStatus::Pending { " · " (lang.t("有设备待批准", "a device waits")) } }
                            td { @if online(&n.hall) { (lang.t("是", "yes")) } @else { (lang.t("否", "no")) } }
                            td { (n.version.as_deref().unwrap_or("—")) }
                            td { (ago(now, n.last_seen)) }
                            td { (n.sync_lag_s.map_or("—".into(), |s| format!("{s} s"))) }
                            td { (n.clock_offset_ms.map_or("—".into(), |s| format!("{s} ms"))) }
                            td { (n.printer.as_deref().unwrap_or("—")) }
                            td { (n.disk_free_mb.map_or("—".into(), |s| format!("{s} MB"))) }
                            td { (date(n.cert_not_after, offset)) }
                            td { code { (n.pending_device.as_deref().unwrap_or(&n.device_id)) } br; small { (n.pending_hardware.as_deref().unwrap_or(&n.hardware)) } }
                            td.incidents {
                                @if let Some((at, what)) = v.incidents.first() {
                                    span.warning { (ago(now, Some(*at))) "：" (what) }
                                    @if v.incidents.len() > 1 { br; small { (lang.t(&format!("共 {} 次", v.incidents.len()), &format!("{} in all", v.incidents.len()))) } }
                                } @else { "—" }
                            }
                            @if admin {
                                td {
                                    @if n.pending_device.is_some() && n.status != NodeStatus::Revoked {
                                        form.inline method="post" action={ "/office/nodes/" (n.node) "/approve" } {
                                            (o.csrf_field()) button type="submit" { (lang.t("批准", "Approve")) }
                                        }
                                        form.inline method="post" action={ "/office/nodes/" (n.node) "/reject" } {
                                            (o.csrf_field()) button type="submit" { (lang.t("拒绝", "Reject")) }
                                        }
                                    }
                                    @if n.status == NodeStatus::Active {
                                        form.inline method="post" action={ "/office/nodes/" (n.node) "/revoke" }
                                            data-confirm=(lang.one("吊销后该节点将立即断开且不能再使用此名称，确定吗？", "Revoke this node? It is cut off at once and its name is never used again.")) {
                                            (o.csrf_field()) button.danger type="submit" { (lang.t("吊销", "Revoke")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if nodes.is_empty() { p { (lang.t("还没有节点。", "No nodes yet.")) } }
        },
    ))
}

/// Approves, rejects or revokes a node (admins only: a node's identity is IT's decision).
pub async fn act(
    State(state): State<AppState>,
    Path((node, action)): Path<(String, String)>,
    f: OfficeForm<CsrfField>,
) -> Response {
    let o = f.officer;
    let Some(what) = NodeAction::parse(&action) else {
        return refused(o.lang, "未知操作 / unknown action", "/office/nodes");
    };
    let core = state.core.clone();
    let by = o.account.clone();
    let target = node.clone();
    let done = crate::ui::blocking(move || nodes::act(&core, &target, what, &by)).await;
    match done {
        Ok(()) => {
            // The running cloud reads revocations from the registry every second.
            Redirect::to(&format!(
                "/office/nodes?done={}",
                crate::ui::auth::urlencode(&format!("{action} {node}"))
            ))
            .into_response()
        }
        Err(crate::core::Error::Invalid(why) | crate::core::Error::Conflict(why)) => {
            refused(o.lang, &why, "/office/nodes")
        }
        Err(e) => crate::ui::error::respond(o.lang, &e),
    }
}
