//! The campus-card directory: imported from the card system's CSV export and published to the
//! halls (the `cards` document), which look cards up offline at the kiosk.
//!
//! The export is the whole directory: an import replaces it (cards no longer in the export
//! are removed). Rows that cannot be used are listed with their line and the reason; nothing
//! is published when no row is usable. Exports in GB18030/GBK (common in Chinese campus
//! systems) are read as well as UTF-8.

use crate::core::accounts::Area;
use crate::core::cards::*;
use crate::ui::AppState;
use crate::ui::auth::Officer;
use crate::ui::forms::refused;
use crate::ui::office::{flash, office_page};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::response::Response;
use maud::{Markup, html};

fn form(o: &Officer) -> Markup {
    let lang = o.lang;
    html! {
        form.stack method="post" action="/office/cards" enctype="multipart/form-data" {
            (o.csrf_field())
            h2 { (lang.t("导入校园卡系统导出的 CSV", "Import the card system's CSV export")) }
            p.hint { (lang.t(
                "第一行为表头：卡号、身份、学院（或 card, kind, college）。导入将替换整个名录。支持 UTF-8 与 GB18030 编码。",
                "The first row names the columns: card, kind, college (or 卡号, 身份, 学院). An import replaces the whole directory. UTF-8 and GB18030 files are read."
            )) }
            label { (lang.t("CSV 文件", "CSV file")) input type="file" name="file" accept=".csv,text/csv" required; }
            button type="submit" { (lang.t("导入并发布", "Import and publish")) }
        }
    }
}

pub async fn page(o: Officer, State(state): State<AppState>) -> Result<Markup, Response> {
    o.require(Area::Cards)?;
    let n = count(&state.core).map_err(|e| crate::ui::error::respond(o.lang, &e))?;
    let lang = o.lang;
    Ok(office_page(
        &o,
        "校园卡名录",
        "Campus cards",
        html! {
            p { (lang.t(&format!("各大厅现有名录：{n} 张卡。"), &format!("The halls' directory holds {n} cards."))) }
            (form(&o))
        },
    ))
}

/// The form's size limit: a campus of 100,000 cards is a few megabytes.
pub const UPLOAD_LIMIT: usize = 32 * 1024 * 1024;

pub async fn import(State(state): State<AppState>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let o =
        match <Officer as axum::extract::FromRequestParts<AppState>>::from_request_parts(&mut parts, &state)
            .await
        {
            Ok(o) => o,
            Err(r) => return r,
        };
    if let Err(r) = o.require(Area::Cards) {
        return r;
    }
    // The route's DefaultBodyLimit (UPLOAD_LIMIT) bounds what is read.
    let req = Request::from_parts(parts, body);
    let mut mp = match Multipart::from_request(req, &state).await {
        Ok(m) => m,
        Err(e) => {
            return refused(o.lang, &format!("不是文件上传表单 / not a file upload: {e}"), "/office/cards");
        }
    };
    let (mut csrf, mut file) = (String::new(), None);
    loop {
        match mp.next_field().await {
            Ok(Some(f)) => match f.name() {
                Some("csrf") => csrf = f.text().await.unwrap_or_default(),
                Some("file") => match f.bytes().await {
                    Ok(b) => file = Some(b),
                    Err(e) => {
                        return refused(
                            o.lang,
                            &format!("文件读取失败或过大 / the file could not be read or is too large: {e}"),
                            "/office/cards",
                        );
                    }
                },
                _ => {}
            },
            Ok(None) => break,
            Err(e) => {
                return refused(o.lang, &format!("上传中断 / the upload broke off: {e}"), "/office/cards");
            }
        }
    }
    if !crate::core::accounts::same_secret(&csrf, &o.csrf) {
        return crate::ui::auth::csrf_refused(o.lang);
    }
    let Some(file) = file.filter(|f| !f.is_empty()) else {
        return refused(o.lang, "没有选择文件 / no file was chosen", "/office/cards");
    };
    let lang = o.lang;
    let core = state.core.clone();
    let bytes = file.to_vec();
    let (import, published) =
        match crate::ui::blocking(move || crate::core::cards::import(&core, &bytes)).await {
            Ok(import) => (import, Ok(())),
            // What was wrong with the file (the report of its rows, when it had any).
            Err(crate::core::Error::Invalid(why)) => match parse(&file) {
                Ok(report) => (report, Err(why)),
                Err(_) => return refused(o.lang, &why, "/office/cards"),
            },
            Err(e) => return crate::ui::error::respond(o.lang, &e),
        };
    if published.is_ok() {
        tracing::info!(message = "Card directory imported.", by = %o.account.login, cards = import.entries.len(), rejected = import.rejected.len());
    }
    let page = office_page(
        &o,
        "校园卡名录",
        "Campus cards",
        html! {
            @match &published {
                Ok(()) => (flash(lang, true,
                    &format!("已导入并发布 {} 张卡，拒绝 {} 行。", import.entries.len(), import.rejected.len()),
                    &format!("{} cards imported and published; {} rows rejected.", import.entries.len(), import.rejected.len()))),
                Err(e) => (flash(lang, false, &format!("未导入：{e}"), &format!("Not imported: {e}"))),
            }
            @if import.gb18030 { p.hint { (lang.t("文件按 GB18030 编码读取。", "The file was read as GB18030.")) } }
            @if !import.rejected.is_empty() {
                h2 { (lang.t("被拒绝的行", "Rejected rows")) }
                table.rejected {
                    thead { tr { th { (lang.t("行号", "Line")) } th { (lang.t("原因", "Reason")) } th { (lang.t("内容", "Row")) } } }
                    tbody { @for r in &import.rejected { tr { td { (r.line) } td { (r.reason) } td { code { (r.row) } } } } }
                }
            }
            (form(&o))
        },
    );
    let status = if published.is_ok() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    axum::response::IntoResponse::into_response((status, page))
}
