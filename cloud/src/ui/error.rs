//! The one mapping from the core's errors to answers: the kind of error chooses the status
//! code and the log level together. A refusal says what the rule is; a failure of ours is
//! logged with its cause (at error level: an incident) and the reader is told only that it
//! failed, never a path or a database message.

use super::{Lang, problem};
use crate::core::Error;
use axum::http::StatusCode;
use axum::response::Response;

impl Error {
    /// The status code of this kind of error.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::Forbidden => StatusCode::FORBIDDEN,
            Error::Store(_) | Error::Db(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The page for `e` in `lang` (failures are logged here, once).
pub fn respond(lang: Lang, e: &Error) -> Response {
    let status = e.status();
    match e {
        Error::Invalid(m) | Error::Conflict(m) => {
            let (zh, en) = m.split_once(" / ").unwrap_or((m, m));
            problem(lang, status, zh, en)
        }
        Error::NotFound => problem(lang, status, "没有找到。", "Not found."),
        Error::Forbidden => problem(
            lang,
            status,
            "您的账号无权使用此功能。",
            "Your account may not use this part of the back office.",
        ),
        failure => {
            tracing::error!(message = "A request failed.", error = %failure);
            problem(
                lang,
                status,
                "系统暂时无法完成此操作，请稍后再试；已记录此问题。",
                "This could not be done just now: try again later. The problem has been logged.",
            )
        }
    }
}
