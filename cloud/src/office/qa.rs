//! Q&A: questions the public asks (`/qa/ask`), held for moderation, answered by staff in the
//! back office (`/office/qa`, [`Area::Qa`]) and then shown on `/qa`.
//!
//! Questions and answers are the cloud's own rows in `office.sqlite` (`qa_questions`,
//! `qa_answers`: one answer per question, which staff may edit), not synced documents: the
//! halls do not need them. Everything is plain text: stored as typed (line ends made `\n`,
//! other control characters dropped), escaped by maud when shown, line breaks kept by CSS
//! (`.plain { white-space: pre-line }`). A question is public only once published; a hidden
//! one keeps the reason it was hidden, for the staff.

use super::auth::{Area, OfficeForm, Officer};
use super::shell::{flash, office_page};
use crate::web::progress::local_time;
use crate::web::{Lang, WebState, now, problem};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use onestop_model::{Catalog, ServiceId, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS qa_questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service TEXT,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    asked_ms INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'published', 'hidden')),
    hide_reason TEXT,
    moderated_by TEXT,
    moderated_ms INTEGER
);
CREATE INDEX IF NOT EXISTS qa_questions_by_status ON qa_questions (status, asked_ms);
CREATE TABLE IF NOT EXISTS qa_answers (
    question INTEGER PRIMARY KEY REFERENCES qa_questions(id),
    body TEXT NOT NULL,
    login TEXT NOT NULL,
    answered_ms INTEGER NOT NULL,
    edited_ms INTEGER
);
";

/// Length limits, in characters.
pub const TITLE: std::ops::RangeInclusive<usize> = 2..=100;
pub const BODY: std::ops::RangeInclusive<usize> = 5..=2000;
pub const ANSWER: std::ops::RangeInclusive<usize> = 1..=4000;
pub const REASON: std::ops::RangeInclusive<usize> = 1..=200;

/// Where a question is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QaStatus {
    /// Asked, waiting for moderation: only staff see it.
    Pending,
    Published,
    Hidden,
}

impl QaStatus {
    pub const ALL: [QaStatus; 3] = [QaStatus::Pending, QaStatus::Published, QaStatus::Hidden];
    pub fn as_str(self) -> &'static str {
        match self {
            QaStatus::Pending => "pending",
            QaStatus::Published => "published",
            QaStatus::Hidden => "hidden",
        }
    }
    pub fn parse(s: &str) -> Option<QaStatus> {
        QaStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }
    pub fn zh(self) -> &'static str {
        match self {
            QaStatus::Pending => "待审核",
            QaStatus::Published => "已公开",
            QaStatus::Hidden => "已隐藏",
        }
    }
    pub fn en(self) -> &'static str {
        match self {
            QaStatus::Pending => "awaiting moderation",
            QaStatus::Published => "published",
            QaStatus::Hidden => "hidden",
        }
    }
}

/// A staff answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub body: String,
    pub login: String,
    pub at: Timestamp,
    pub edited: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub id: i64,
    pub service: Option<ServiceId>,
    pub title: String,
    pub body: String,
    pub asked: Timestamp,
    pub status: QaStatus,
    pub hide_reason: Option<String>,
    pub answer: Option<Answer>,
}

/// Why a question, answer or moderation is refused.
#[derive(Debug, thiserror::Error)]
pub enum QaError {
    #[error("{zh}须为 {min} 到 {max} 个字 / the {en} must be {min} to {max} characters")]
    Length { zh: &'static str, en: &'static str, min: usize, max: usize },
    #[error("没有这个问题 / there is no such question")]
    Unknown,
    #[error("数据库错误 / database error: {0}")]
    Db(#[from] rusqlite::Error),
}

/// Plain text as stored: `\r\n` and `\r` made `\n`, other control characters dropped, outer
/// whitespace trimmed.
pub fn clean(s: &str) -> String {
    s.replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|c| *c == '\n' || *c == '\t' || !c.is_control())
        .collect::<String>()
        .trim()
        .to_string()
}

/// `s` cleaned, if its length is within `range`.
pub fn checked(
    s: &str,
    range: std::ops::RangeInclusive<usize>,
    zh: &'static str,
    en: &'static str,
) -> Result<String, QaError> {
    let c = clean(s);
    if range.contains(&c.chars().count()) {
        Ok(c)
    } else {
        Err(QaError::Length { zh, en, min: *range.start(), max: *range.end() })
    }
}

const COLUMNS: &str = "q.id, q.service, q.title, q.body, q.asked_ms, q.status, q.hide_reason, \
                       a.body, a.login, a.answered_ms, a.edited_ms";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Question> {
    let answer = match r.get::<_, Option<String>>(7)? {
        Some(body) => Some(Answer {
            body,
            login: r.get(8)?,
            at: Timestamp(r.get(9)?),
            edited: r.get::<_, Option<i64>>(10)?.map(Timestamp),
        }),
        None => None,
    };
    Ok(Question {
        id: r.get(0)?,
        service: r.get::<_, Option<String>>(1)?.map(ServiceId::new),
        title: r.get(2)?,
        body: r.get(3)?,
        asked: Timestamp(r.get(4)?),
        status: QaStatus::parse(&r.get::<_, String>(5)?).unwrap_or(QaStatus::Hidden),
        hide_reason: r.get(6)?,
        answer,
    })
}

/// A new question, pending moderation; returns its id.
pub fn ask(
    db: &Connection,
    service: Option<&ServiceId>,
    title: &str,
    body: &str,
    now: Timestamp,
) -> Result<i64, QaError> {
    let title = checked(title, TITLE, "标题", "title")?;
    let body = checked(body, BODY, "问题内容", "question")?;
    db.execute(
        "INSERT INTO qa_questions (service, title, body, asked_ms) VALUES (?1, ?2, ?3, ?4)",
        params![service.map(|s| s.as_str()), title, body, now.0],
    )?;
    Ok(db.last_insert_rowid())
}

pub fn question(db: &Connection, id: i64) -> Result<Option<Question>, QaError> {
    Ok(db
        .query_row(
            &format!("SELECT {COLUMNS} FROM qa_questions q LEFT JOIN qa_answers a ON a.question = q.id WHERE q.id = ?1"),
            params![id],
            row,
        )
        .optional()?)
}

/// Published questions, newest first: page `page` (from 0) of `per` and how many there are.
pub fn published(db: &Connection, page: u32, per: u32) -> Result<(Vec<Question>, u32), QaError> {
    let total: u32 =
        db.query_row("SELECT count(*) FROM qa_questions WHERE status = 'published'", [], |r| r.get(0))?;
    let mut st = db.prepare(&format!(
        "SELECT {COLUMNS} FROM qa_questions q LEFT JOIN qa_answers a ON a.question = q.id \
         WHERE q.status = 'published' ORDER BY q.asked_ms DESC, q.id DESC LIMIT ?1 OFFSET ?2"
    ))?;
    let list =
        st.query_map(params![per, i64::from(page) * i64::from(per)], row)?.collect::<Result<Vec<_>, _>>()?;
    Ok((list, total))
}

/// Questions with `status`: pending ones oldest first (a queue), the others newest first; at
/// most 200.
pub fn with_status(db: &Connection, status: QaStatus) -> Result<Vec<Question>, QaError> {
    let order = if status == QaStatus::Pending { "ASC" } else { "DESC" };
    let mut st = db.prepare(&format!(
        "SELECT {COLUMNS} FROM qa_questions q LEFT JOIN qa_answers a ON a.question = q.id \
         WHERE q.status = ?1 ORDER BY q.asked_ms {order}, q.id {order} LIMIT 200"
    ))?;
    let list = st.query_map(params![status.as_str()], row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(list)
}

fn moderate(
    db: &Connection,
    id: i64,
    status: QaStatus,
    reason: Option<&str>,
    login: &str,
    now: Timestamp,
) -> Result<(), QaError> {
    let n = db.execute(
        "UPDATE qa_questions SET status = ?2, hide_reason = ?3, moderated_by = ?4, moderated_ms = ?5 WHERE id = ?1",
        params![id, status.as_str(), reason, login, now.0],
    )?;
    if n == 0 { Err(QaError::Unknown) } else { Ok(()) }
}

/// Answers a question (or changes its answer) and publishes it.
pub fn answer(db: &mut Connection, id: i64, body: &str, login: &str, now: Timestamp) -> Result<(), QaError> {
    let body = checked(body, ANSWER, "答复", "answer")?;
    let tx = db.transaction()?;
    moderate(&tx, id, QaStatus::Published, None, login, now)?;
    tx.execute(
        "INSERT INTO qa_answers (question, body, login, answered_ms) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (question) DO UPDATE SET body = excluded.body, login = excluded.login, edited_ms = excluded.answered_ms",
        params![id, body, login, now.0],
    )?;
    tx.commit()?;
    Ok(())
}

/// Publishes a question as it is (with its answer, if any).
pub fn publish(db: &Connection, id: i64, login: &str, now: Timestamp) -> Result<(), QaError> {
    moderate(db, id, QaStatus::Published, None, login, now)
}

/// Hides a question from the public, with the reason (for the staff).
pub fn hide(db: &Connection, id: i64, reason: &str, login: &str, now: Timestamp) -> Result<(), QaError> {
    let reason = checked(reason, REASON, "隐藏原因", "reason")?;
    moderate(db, id, QaStatus::Hidden, Some(&reason), login, now)
}

/// The campus's local time for Q&A dates: the first hall's offset (China's without halls).
pub fn campus_offset(catalog: &Catalog) -> i32 {
    catalog.halls.values().next().map_or(480, |h| h.utc_offset_minutes)
}

// ----- Back-office pages -----

#[derive(serde::Deserialize, Default)]
pub struct QueueQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    done: Option<String>,
}

fn failed(lang: Lang, e: &QaError) -> Response {
    tracing::error!(message = "Q&A storage failed.", error = %e);
    problem(lang, StatusCode::INTERNAL_SERVER_ERROR, "咨询数据暂时无法读取。", "Q&A cannot be read now.")
}

fn not_found(lang: Lang) -> Response {
    problem(lang, StatusCode::NOT_FOUND, "没有这个问题。", "There is no such question.")
}

/// `GET /office/qa`: the moderation queue (or the published or hidden questions).
pub async fn queue(State(web): State<WebState>, o: Officer, Query(q): Query<QueueQuery>) -> Response {
    if let Err(r) = o.require(Area::Qa) {
        return r;
    }
    let lang = o.lang;
    let status = QaStatus::parse(q.status.trim()).unwrap_or(QaStatus::Pending);
    let list = match with_status(&web.backend.db(), status) {
        Ok(l) => l,
        Err(e) => return failed(lang, &e),
    };
    let offset = campus_offset(&web.cache.get().catalog);
    office_page(
        &o,
        "咨询答复",
        "Q&A",
        html! {
            nav.tabs aria-label=(lang.one("问题状态", "Question status")) {
                ul {
                    @for s in QaStatus::ALL {
                        li { a href={ "/office/qa?status=" (s.as_str()) } aria-current=[(s == status).then_some("page")] { (lang.t(s.zh(), s.en())) } }
                    }
                }
            }
            @if list.is_empty() {
                p #no-questions { (lang.t("没有问题。", "No questions.")) }
            } @else {
                ul.questions #questions {
                    @for x in &list {
                        li data-question=(x.id) {
                            a href={ "/office/qa/" (x.id) } { (x.title) }
                            " "
                            span.meta { (local_time(x.asked, offset)) @if x.answer.is_some() { " · " (lang.t("已答复", "answered")) } }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

fn question_body(
    o: &Officer,
    catalog: &Catalog,
    x: &Question,
    notice: Markup,
    draft: Option<&str>,
) -> Markup {
    let lang = o.lang;
    let offset = campus_offset(catalog);
    let base = format!("/office/qa/{}", x.id);
    html! {
        (notice)
        article.question {
            h2 #question-title { (x.title) }
            p.meta {
                (local_time(x.asked, offset))
                @if let Some(s) = x.service.as_ref() {
                    " · "
                    @match catalog.services.get(s) { Some(s) => (lang.text(&s.name)), None => (s) }
                }
                " · " span #question-status data-status=(x.status.as_str()) { (lang.t(x.status.zh(), x.status.en())) }
            }
            p.plain #question-body { (x.body) }
            @if let Some(r) = &x.hide_reason { @if x.status == QaStatus::Hidden {
                p.plain #hide-reason { (lang.t("隐藏原因：", "Hidden because: ")) (r) }
            } }
            @if let Some(a) = &x.answer {
                section.answer {
                    h3 { (lang.t("答复", "Answer")) }
                    p.plain #answer-body { (a.body) }
                    p.meta { (a.login) " · " (local_time(a.edited.unwrap_or(a.at), offset)) }
                }
            }
        }
        form.stack #answer method="post" action={ (base) "/answer" } {
            (o.csrf_field())
            label for="body" { (lang.t("答复（公开）", "Answer (public)")) }
            textarea #body name="body" required maxlength=(ANSWER.end()) rows="6" {
                (draft.or(x.answer.as_ref().map(|a| a.body.as_str())).unwrap_or(""))
            }
            button #do-answer type="submit" {
                @if x.answer.is_some() { (lang.t("保存答复并公开", "Save the answer and publish")) }
                @else { (lang.t("答复并公开", "Answer and publish")) }
            }
        }
        @if x.status != QaStatus::Published {
            form.inline #publish method="post" action={ (base) "/publish" } {
                (o.csrf_field())
                button #do-publish type="submit" { (lang.t("直接公开（不答复）", "Publish without an answer")) }
            }
        }
        @if x.status != QaStatus::Hidden {
            form.stack #hide method="post" action={ (base) "/hide" } {
                (o.csrf_field())
                label for="reason" { (lang.t("隐藏原因（仅工作人员可见）", "Reason for hiding (staff only)")) }
                input #reason name="reason" required maxlength=(REASON.end());
                button #do-hide.danger type="submit" { (lang.t("隐藏", "Hide")) }
            }
        }
        p { a href="/office/qa" { (lang.t("返回问题列表", "Back to the questions")) } }
    }
}

/// `GET /office/qa/{id}`: a question with its answer form and moderation.
pub async fn question_page(
    State(web): State<WebState>,
    o: Officer,
    Path(id): Path<i64>,
    Query(q): Query<QueueQuery>,
) -> Response {
    if let Err(r) = o.require(Area::Qa) {
        return r;
    }
    let lang = o.lang;
    let x = match question(&web.backend.db(), id) {
        Ok(Some(x)) => x,
        Ok(None) => return not_found(lang),
        Err(e) => return failed(lang, &e),
    };
    let notice = match q.done.as_deref() {
        Some("answer") => flash(lang, true, "答复已保存并公开。", "The answer is saved and published."),
        Some("publish") => flash(lang, true, "问题已公开。", "The question is published."),
        Some("hide") => flash(lang, true, "问题已隐藏。", "The question is hidden."),
        _ => html! {},
    };
    let catalog = web.cache.get().catalog.clone();
    office_page(&o, "咨询答复", "Q&A", question_body(&o, &catalog, &x, notice, None)).into_response()
}

#[derive(serde::Deserialize)]
pub struct ActForm {
    #[serde(default)]
    body: String,
    #[serde(default)]
    reason: String,
}

/// `POST /office/qa/{id}/{answer|publish|hide}`.
pub async fn act(
    State(web): State<WebState>,
    Path((id, action)): Path<(i64, String)>,
    OfficeForm { officer: o, form }: OfficeForm<ActForm>,
) -> Response {
    if let Err(r) = o.require(Area::Qa) {
        return r;
    }
    let lang = o.lang;
    let login = o.account.login.clone();
    let t = now();
    let done = {
        let mut db = web.backend.db();
        match action.as_str() {
            "answer" => answer(&mut db, id, &form.body, &login, t),
            "publish" => publish(&db, id, &login, t),
            "hide" => hide(&db, id, &form.reason, &login, t),
            _ => return problem(lang, StatusCode::NOT_FOUND, "没有这个操作。", "There is no such action."),
        }
    };
    match done {
        Ok(()) => {
            tracing::info!(message = "Q&A moderated.", question = id, action = %action, by = %login);
            Redirect::to(&format!("/office/qa/{id}?done={action}")).into_response()
        }
        Err(QaError::Unknown) => not_found(lang),
        Err(e @ QaError::Length { .. }) => {
            let x = match question(&web.backend.db(), id) {
                Ok(Some(x)) => x,
                Ok(None) => return not_found(lang),
                Err(e) => return failed(lang, &e),
            };
            let text = e.to_string();
            let (zh, en) = text.split_once(" / ").unwrap_or((&text, ""));
            let catalog = web.cache.get().catalog.clone();
            let draft = (action == "answer").then_some(form.body.as_str());
            let body = question_body(&o, &catalog, &x, flash(lang, false, zh, en), draft);
            (StatusCode::UNPROCESSABLE_ENTITY, office_page(&o, "咨询答复", "Q&A", body)).into_response()
        }
        Err(e) => failed(lang, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(SCHEMA).unwrap();
        c
    }

    #[test]
    fn a_question_is_public_only_once_published_and_keeps_its_answer() {
        let mut db = db();
        let id = ask(&db, None, "  补办校园卡  ", "丢了卡怎么办？\r\n第二行", Timestamp(1)).unwrap();
        let x = question(&db, id).unwrap().unwrap();
        assert_eq!(
            (x.title.as_str(), x.body.as_str(), x.status),
            ("补办校园卡", "丢了卡怎么办？\n第二行", QaStatus::Pending)
        );
        assert_eq!(published(&db, 0, 10).unwrap().1, 0);
        answer(&mut db, id, "到一站式大厅 3 号窗口。", "wang", Timestamp(2)).unwrap();
        let (list, total) = published(&db, 0, 10).unwrap();
        assert_eq!((list.len(), total), (1, 1));
        assert_eq!(list[0].answer.as_ref().unwrap().edited, None);
        answer(&mut db, id, "改：4 号窗口。", "li", Timestamp(3)).unwrap();
        let a = question(&db, id).unwrap().unwrap().answer.unwrap();
        assert_eq!(
            (a.body.as_str(), a.login.as_str(), a.at, a.edited),
            ("改：4 号窗口。", "li", Timestamp(2), Some(Timestamp(3)))
        );
        hide(&db, id, "重复问题", "wang", Timestamp(4)).unwrap();
        assert_eq!(published(&db, 0, 10).unwrap().1, 0);
        assert_eq!(with_status(&db, QaStatus::Hidden).unwrap()[0].hide_reason.as_deref(), Some("重复问题"));
        assert!(matches!(hide(&db, id, " ", "wang", Timestamp(5)), Err(QaError::Length { .. })));
        assert!(matches!(publish(&db, 999, "wang", Timestamp(5)), Err(QaError::Unknown)));
        assert!(matches!(answer(&mut db, 999, "x", "wang", Timestamp(5)), Err(QaError::Unknown)));
    }

    #[test]
    fn lengths_and_control_characters() {
        let db = db();
        assert!(matches!(ask(&db, None, "x", "long enough body", Timestamp(1)), Err(QaError::Length { .. })));
        assert!(matches!(ask(&db, None, "title", "shrt", Timestamp(1)), Err(QaError::Length { .. })));
        assert!(matches!(
            ask(&db, None, &"t".repeat(101), "long enough", Timestamp(1)),
            Err(QaError::Length { .. })
        ));
        assert_eq!(clean("a\u{0}b\u{1b}[31mc\r\nd\te"), "ab[31mc\nd\te");
    }

    #[test]
    fn pages_are_newest_first() {
        let db = db();
        for i in 0..25 {
            let id = ask(&db, None, &format!("问题 {i}"), "内容内容内容", Timestamp(i)).unwrap();
            publish(&db, id, "wang", Timestamp(100)).unwrap();
        }
        let (first, total) = published(&db, 0, 10).unwrap();
        assert_eq!((first[0].title.as_str(), total), ("问题 24", 25));
        let (last, _) = published(&db, 2, 10).unwrap();
        assert_eq!(last.len(), 5);
        assert_eq!(last[4].title, "问题 0");
    }
}
