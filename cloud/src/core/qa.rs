//! Q&A: questions the public asks, held for moderation, answered by staff and then shown.
//!
//! Questions and answers are the cloud's own rows in `office.sqlite` (`qa_questions`,
//! `qa_answers`: one answer per question, which staff may edit), not synced documents: the
//! halls do not need them. Everything is plain text: stored as typed (line ends made `\n`,
//! other control characters dropped); a question is public only once published; a hidden
//! one keeps the reason it was hidden, for the staff.

use super::Core;
use onestop_model::{ServiceId, Timestamp};
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

impl From<super::Error> for QaError {
    fn from(e: super::Error) -> QaError {
        QaError::Failed(e)
    }
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
    #[error(transparent)]
    Failed(super::Error),
}

impl From<QaError> for super::Error {
    fn from(e: QaError) -> super::Error {
        match e {
            QaError::Length { .. } => super::Error::Invalid(e.to_string()),
            QaError::Unknown => super::Error::NotFound,
            QaError::Db(e) => super::Error::Db(e),
            QaError::Failed(e) => e,
        }
    }
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

/// A new question from the public, pending moderation, at the core's time; returns its id.
pub fn ask(core: &Core, service: Option<&ServiceId>, title: &str, body: &str) -> Result<i64, QaError> {
    insert(&core.db(), service, title, body, core.now())
}

/// One question, whatever its status (the back office's view).
pub fn question(core: &Core, id: i64) -> Result<Option<Question>, QaError> {
    question_in(&core.db(), id)
}

/// A question the public may see: published ones only.
pub fn public_question(core: &Core, id: i64) -> Result<Option<Question>, QaError> {
    Ok(question(core, id)?.filter(|q| q.status == QaStatus::Published))
}

/// Published questions, newest first: page `page` (from 0) of `per` and how many there are.
pub fn published(core: &Core, page: u32, per: u32) -> Result<(Vec<Question>, u32), QaError> {
    published_in(&core.db(), page, per)
}

/// Questions with `status`, as the moderation queue lists them.
pub fn with_status(core: &Core, status: QaStatus) -> Result<Vec<Question>, QaError> {
    with_status_in(&core.db(), status)
}

/// What a moderator does with a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moderation {
    /// Answer it (or change its answer) and publish it.
    Answer(String),
    /// Publish it as it is.
    Publish,
    /// Hide it from the public, with the reason.
    Hide(String),
}

/// Moderates question `id` as `login`, at the core's time.
pub fn moderate_as(core: &Core, id: i64, action: &Moderation, login: &str) -> Result<(), QaError> {
    let now = core.now();
    let mut db = core.db();
    match action {
        Moderation::Answer(body) => answer(&mut db, id, body, login, now),
        Moderation::Publish => publish(&db, id, login, now),
        Moderation::Hide(reason) => hide(&db, id, reason, login, now),
    }
}

fn insert(
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

fn question_in(db: &Connection, id: i64) -> Result<Option<Question>, QaError> {
    Ok(db
        .query_row(
            &format!("SELECT {COLUMNS} FROM qa_questions q LEFT JOIN qa_answers a ON a.question = q.id WHERE q.id = ?1"),
            params![id],
            row,
        )
        .optional()?)
}

fn published_in(db: &Connection, page: u32, per: u32) -> Result<(Vec<Question>, u32), QaError> {
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
fn with_status_in(db: &Connection, status: QaStatus) -> Result<Vec<Question>, QaError> {
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
fn answer(db: &mut Connection, id: i64, body: &str, login: &str, now: Timestamp) -> Result<(), QaError> {
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
fn publish(db: &Connection, id: i64, login: &str, now: Timestamp) -> Result<(), QaError> {
    moderate(db, id, QaStatus::Published, None, login, now)
}

/// Hides a question from the public, with the reason (for the staff).
fn hide(db: &Connection, id: i64, reason: &str, login: &str, now: Timestamp) -> Result<(), QaError> {
    let reason = checked(reason, REASON, "隐藏原因", "reason")?;
    moderate(db, id, QaStatus::Hidden, Some(&reason), login, now)
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
        let id = insert(&db, None, "  补办校园卡  ", "丢了卡怎么办？\r\n第二行", Timestamp(1)).unwrap();
        let x = question_in(&db, id).unwrap().unwrap();
        assert_eq!(
            (x.title.as_str(), x.body.as_str(), x.status),
            ("补办校园卡", "丢了卡怎么办？\n第二行", QaStatus::Pending)
        );
        assert_eq!(published_in(&db, 0, 10).unwrap().1, 0);
        answer(&mut db, id, "到一站式大厅 3 号窗口。", "wang", Timestamp(2)).unwrap();
        let (list, total) = published_in(&db, 0, 10).unwrap();
        assert_eq!((list.len(), total), (1, 1));
        assert_eq!(list[0].answer.as_ref().unwrap().edited, None);
        answer(&mut db, id, "改：4 号窗口。", "li", Timestamp(3)).unwrap();
        let a = question_in(&db, id).unwrap().unwrap().answer.unwrap();
        assert_eq!(
            (a.body.as_str(), a.login.as_str(), a.at, a.edited),
            ("改：4 号窗口。", "li", Timestamp(2), Some(Timestamp(3)))
        );
        hide(&db, id, "重复问题", "wang", Timestamp(4)).unwrap();
        assert_eq!(published_in(&db, 0, 10).unwrap().1, 0);
        assert_eq!(
            with_status_in(&db, QaStatus::Hidden).unwrap()[0].hide_reason.as_deref(),
            Some("重复问题")
        );
        assert!(matches!(hide(&db, id, " ", "wang", Timestamp(5)), Err(QaError::Length { .. })));
        assert!(matches!(publish(&db, 999, "wang", Timestamp(5)), Err(QaError::Unknown)));
        assert!(matches!(answer(&mut db, 999, "x", "wang", Timestamp(5)), Err(QaError::Unknown)));
    }

    #[test]
    fn lengths_and_control_characters() {
        let db = db();
        assert!(matches!(
            insert(&db, None, "x", "long enough body", Timestamp(1)),
            Err(QaError::Length { .. })
        ));
        assert!(matches!(insert(&db, None, "title", "shrt", Timestamp(1)), Err(QaError::Length { .. })));
        assert!(matches!(
            insert(&db, None, &"t".repeat(101), "long enough", Timestamp(1)),
            Err(QaError::Length { .. })
        ));
        assert_eq!(clean("a\u{0}b\u{1b}[31mc\r\nd\te"), "ab[31mc\nd\te");
    }

    #[test]
    fn pages_are_newest_first() {
        let db = db();
        for i in 0..25 {
            let id = insert(&db, None, &format!("问题 {i}"), "内容内容内容", Timestamp(i)).unwrap();
            publish(&db, id, "wang", Timestamp(100)).unwrap();
        }
        let (first, total) = published_in(&db, 0, 10).unwrap();
        assert_eq!((first[0].title.as_str(), total), ("问题 24", 25));
        let (last, _) = published_in(&db, 2, 10).unwrap();
        assert_eq!(last.len(), 5);
        assert_eq!(last[4].title, "问题 0");
    }
}
