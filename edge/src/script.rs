//! A one-line command language for the hall, used by `onestop-edge do`, the demo and tests.
//!
//! ```text
//! issue cert                         issue cert card=20230001 priority=care
//! issue visa booking=449301          check-in 3 s1         check-out 3
//! call 3        call 3 A012          recall 3              no-show 3
//! pause 3 午休  resume 3             reactivate A012
//! transfer 3 window=5 front          transfer 3 service=visa back
//! start 3       finish 3 pending     rate 3 5   (5 非常满意 … 1 非常不满意)
//! ```

use onestop_engine::Command;
use onestop_model::{
    CaseKind, Level, Placement, Priority, Rating, ServiceId, StaffId, TicketNo, TransferTarget, WindowNo,
};

/// A parsed line. Issuing by card or booking needs the node to resolve the card or code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Command(Command),
    IssueByCard {
        service: ServiceId,
        card: String,
        priority: Priority,
    },
    /// A booking's check-in by its 6-character code or its signed token; without a service,
    /// the booking's own (a visitor who just scans at the kiosk).
    IssueByBooking {
        service: Option<ServiceId>,
        code: String,
        priority: Priority,
    },
}

/// A line that is not a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("无法识别的指令 / cannot read '{line}': {why}")]
pub struct ParseError {
    pub line: String,
    pub why: String,
}

/// Reads one command line.
pub fn parse(line: &str) -> Result<Request, ParseError> {
    let err = |why: String| ParseError { line: line.trim().to_string(), why };
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&verb, args)) = words.split_first() else {
        return Err(err("the line is empty".into()));
    };
    let window = |i: usize| -> Result<WindowNo, ParseError> {
        let raw = args.get(i).ok_or_else(|| err(format!("'{verb}' needs a window number")))?;
        raw.parse().map_err(|_| err(format!("'{raw}' is not a window number")))
    };
    let ticket = |raw: &str| -> Result<TicketNo, ParseError> { raw.parse().map_err(|e| err(format!("{e}"))) };
    let no_more = |n: usize| -> Result<(), ParseError> {
        match args.get(n) {
            Some(extra) => Err(err(format!("unexpected '{extra}'"))),
            None => Ok(()),
        }
    };
    let cmd = match verb {
        "issue" => {
            let service =
                ServiceId::new(*args.first().ok_or_else(|| err("'issue' needs a service id".into()))?);
            let (mut card, mut code, mut priority) = (None, None, Priority::Normal);
            for arg in &args[1..] {
                match arg.split_once('=') {
                    Some(("card", v)) if !v.is_empty() => card = Some(v.to_string()),
                    Some(("booking", v)) if !v.is_empty() => code = Some(v.to_string()),
                    Some(("priority", v)) => {
                        priority = Priority::parse(v)
                            .ok_or_else(|| err(format!("priority '{v}' is not normal, care or green")))?;
                    }
                    _ => return Err(err(format!("unexpected '{arg}' (use card=, booking= or priority=)"))),
                }
            }
            return match (card, code) {
                (Some(_), Some(_)) => Err(err("a ticket comes from a card or a booking, not both".into())),
                (Some(card), None) => Ok(Request::IssueByCard { service, card, priority }),
                (None, Some(code)) => Ok(Request::IssueByBooking { service: Some(service), code, priority }),
                (None, None) => Ok(Request::Command(Command::Issue {
                    service,
                    source: onestop_model::Source::Anonymous,
                    priority,
                })),
            };
        }
        "check-in" => {
            let staff = args.get(1).ok_or_else(|| err("'check-in' needs a window and a staff id".into()))?;
            no_more(2)?;
            Command::CheckIn { window: window(0)?, staff: StaffId::new(*staff) }
        }
        "check-out" => {
            no_more(1)?;
            Command::CheckOut { window: window(0)? }
        }
        "pause" => {
            let reason = args.get(1..).map(|r| r.join(" ")).unwrap_or_default();
            Command::Pause { window: window(0)?, reason }
        }
        "resume" => {
            no_more(1)?;
            Command::Resume { window: window(0)? }
        }
        "call" => match args.get(1) {
            None => Command::CallNext { window: window(0)? },
            Some(t) => {
                no_more(2)?;
                Command::CallTicket { window: window(0)?, ticket: ticket(t)? }
            }
        },
        "recall" => {
            no_more(1)?;
            Command::Recall { window: window(0)? }
        }
        "no-show" => {
            no_more(1)?;
            Command::MarkNoShow { window: window(0)? }
        }
        "reactivate" => {
            let t = args.first().ok_or_else(|| err("'reactivate' needs a ticket number".into()))?;
            no_more(1)?;
            Command::Reactivate { ticket: ticket(t)? }
        }
        "transfer" => {
            let to = match args.get(1).and_then(|a| a.split_once('=')) {
                Some(("window", w)) => TransferTarget::Window(
                    w.parse().map_err(|_| err(format!("'{w}' is not a window number")))?,
                ),
                Some(("service", s)) if !s.is_empty() => TransferTarget::Service(ServiceId::new(s)),
                _ => return Err(err("'transfer' needs window=<n> or service=<id>".into())),
            };
            let placement = match args.get(2) {
                None => Placement::Back,
                Some(p) => {
                    Placement::parse(p).ok_or_else(|| err(format!("'{p}' is not front, back or original")))?
                }
            };
            no_more(3)?;
            Command::Transfer { window: window(0)?, to, placement }
        }
        "start" => {
            no_more(1)?;
            Command::Start { window: window(0)? }
        }
        "finish" => {
            let kind = match args.get(1) {
                None => None,
                Some(k) => Some(
                    CaseKind::parse(k).ok_or_else(|| err(format!("'{k}' is not immediate or pending")))?,
                ),
            };
            no_more(2)?;
            Command::Finish { window: window(0)?, kind }
        }
        "rate" => {
            let raw = args.get(1).ok_or_else(|| err("'rate' needs a level from 1 to 5".into()))?;
            let level = raw
                .parse::<i64>()
                .ok()
                .and_then(Level::from_score)
                .or_else(|| Level::ALL.into_iter().find(|l| l.zh() == *raw))
                .ok_or_else(|| err(format!("'{raw}' is not a level (1-5 or 非常满意 … 非常不满意)")))?;
            no_more(2)?;
            Command::Rate { window: window(0)?, rating: Rating::overall(level) }
        }
        other => return Err(err(format!("unknown command '{other}'"))),
    };
    Ok(Request::Command(cmd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(parse("call 3").unwrap(), Request::Command(Command::CallNext { window: 3 }));
        assert_eq!(
            parse("call 3 A012").unwrap(),
            Request::Command(Command::CallTicket { window: 3, ticket: TicketNo::new('A', 12) })
        );
        assert_eq!(
            parse("pause 2 系统 故障").unwrap(),
            Request::Command(Command::Pause { window: 2, reason: "系统 故障".into() })
        );
        assert_eq!(
            parse("issue cert card=2023 priority=care").unwrap(),
            Request::IssueByCard {
                service: ServiceId::new("cert"),
                card: "2023".into(),
                priority: Priority::Care
            }
        );
        assert_eq!(
            parse("transfer 1 service=visa front").unwrap(),
            Request::Command(Command::Transfer {
                window: 1,
                to: TransferTarget::Service(ServiceId::new("visa")),
                placement: Placement::Front
            })
        );
        assert_eq!(
            parse("rate 4 基本满意").unwrap(),
            Request::Command(Command::Rate { window: 4, rating: Rating::overall(Level::Basic) })
        );
        assert_eq!(
            parse("finish 4 pending").unwrap(),
            Request::Command(Command::Finish { window: 4, kind: Some(CaseKind::Pending) })
        );
    }

    #[test]
    fn mistakes() {
        let e = |l: &str| parse(l).unwrap_err().why;
        assert_eq!(e(""), "the line is empty");
        assert_eq!(e("call"), "'call' needs a window number");
        assert_eq!(e("call x"), "'x' is not a window number");
        assert_eq!(e("call 3 a12"), "'a12' is not a ticket number: a capital letter then digits, e.g. A023");
        assert_eq!(e("rate 3 7"), "'7' is not a level (1-5 or 非常满意 … 非常不满意)");
        assert_eq!(e("start 3 4"), "unexpected '4'");
        assert_eq!(e("dance 3"), "unknown command 'dance'");
        assert_eq!(e("transfer 3 window=x"), "'x' is not a window number");
        assert_eq!(e("issue cert card=1 booking=2"), "a ticket comes from a card or a booking, not both");
        assert_eq!(
            parse("call").unwrap_err().to_string(),
            "无法识别的指令 / cannot read 'call': 'call' needs a window number"
        );
    }
}
