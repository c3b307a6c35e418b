//! Identifiers shared by the edge and the cloud.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Self {
                $name(s.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A hall, e.g. `main` or `east`. Also part of document ids and of node certificates'
    /// names, so [`valid_hall_id`] holds for every hall id the system accepts.
    HallId
);

/// The rule of hall ids, the one every part checks (document ids, certificates, the
/// catalogue, the back office, `init`): 1 to 32 of `a-z`, `0-9` and `-`.
pub fn valid_hall_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The rule of node names (they go into certificates' URI names, file names and log lines):
/// 1 to 63 of `a-z`, `0-9` and `-`, not starting or ending with `-`.
pub fn valid_node_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The rule of the catalogue's other ids (departments, services, staff, notices): 1 to 40 of
/// `a-z`, `0-9`, `-` and `_`.
pub fn valid_item_id(s: &str) -> bool {
    (1..=40).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// An id that breaks its rule; the message says the rule, Chinese first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadId {
    #[error(
        "大厅编号“{0}”须为 1 到 32 个小写字母、数字或 - / the hall id \"{0}\" must be 1 to 32 lowercase letters, digits or '-'"
    )]
    Hall(String),
    #[error(
        "节点名“{0}”须为 1 到 63 个小写字母、数字或 -，且不以 - 开头或结尾 / the node name \"{0}\" must be 1 to 63 lowercase letters, digits or '-', not starting or ending with '-'"
    )]
    Node(String),
    #[error(
        "{zh}编号“{id}”须为 1 到 40 个小写字母、数字、- 或 _ / the {en} id \"{id}\" must be 1 to 40 lowercase letters, digits, '-' or '_'"
    )]
    Item { zh: &'static str, en: &'static str, id: String },
}

impl HallId {
    /// A hall id typed by a person or read from a file, checked against [`valid_hall_id`].
    pub fn parse(s: &str) -> Result<HallId, BadId> {
        if valid_hall_id(s) { Ok(HallId::new(s)) } else { Err(BadId::Hall(s.to_string())) }
    }
}

/// Checks a node name against [`valid_node_name`].
pub fn check_node_name(s: &str) -> Result<(), BadId> {
    if valid_node_name(s) { Ok(()) } else { Err(BadId::Node(s.to_string())) }
}

/// Checks a catalogue item's id against [`valid_item_id`]; `zh` and `en` name the item.
pub fn check_item_id(zh: &'static str, en: &'static str, id: &str) -> Result<(), BadId> {
    if valid_item_id(id) { Ok(()) } else { Err(BadId::Item { zh, en, id: id.to_string() }) }
}
string_id!(
    /// A service item of the catalogue.
    ServiceId
);
string_id!(
    /// A department (学院, 处室).
    DepartmentId
);
string_id!(
    /// A staff member (工号).
    StaffId
);
string_id!(
    /// A notice.
    NoticeId
);
string_id!(
    /// An online reservation.
    BookingId
);
string_id!(
    /// A registered case, e.g. `20261126-main-A023`.
    CaseNo
);
string_id!(
    /// A pseudonymous visitor: a keyed hash of the campus card number, never the card itself.
    VisitorId
);

impl CaseNo {
    /// The number of the case registered for `ticket` on `day` in `hall`: `20261126-main-A023`.
    pub fn for_ticket(day: crate::Day, hall: &HallId, ticket: TicketNo) -> CaseNo {
        CaseNo(format!("{}-{}-{}", day.compact(), hall, ticket))
    }

    /// The day, hall and ticket a case number names, if it is one ([`CaseNo::for_ticket`]'s
    /// form): they say which `hall/H/cases/YYYY-MM` document holds the case.
    pub fn parts(&self) -> Option<(crate::Day, HallId, TicketNo)> {
        let (date, rest) = self.0.split_once('-')?;
        let (hall, ticket) = rest.rsplit_once('-')?;
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if !valid_hall_id(hall) {
            return None;
        }
        let day =
            crate::Day::new(date[..4].parse().ok()?, date[4..6].parse().ok()?, date[6..].parse().ok()?)?;
        Some((day, HallId::new(hall), ticket.parse().ok()?))
    }
}

/// A window's number within its hall (the "5" of "5号窗口").
pub type WindowNo = u16;

/// A ticket number: the service prefix and the day's count for that prefix, e.g. `A023`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TicketNo {
    pub prefix: char,
    pub number: u32,
}

impl TicketNo {
    pub fn new(prefix: char, number: u32) -> TicketNo {
        TicketNo { prefix, number }
    }
}

impl fmt::Display for TicketNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:03}", self.prefix, self.number)
    }
}

/// A ticket number that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a ticket number: a capital letter then digits, e.g. A023")]
pub struct BadTicketNo(pub String);

impl FromStr for TicketNo {
    type Err = BadTicketNo;
    fn from_str(s: &str) -> Result<TicketNo, BadTicketNo> {
        let bad = || BadTicketNo(s.to_string());
        let mut chars = s.chars();
        let prefix = chars.next().filter(char::is_ascii_uppercase).ok_or_else(bad)?;
        let digits = chars.as_str();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let number: u32 = digits.parse().map_err(|_| bad())?;
        if number == 0 {
            return Err(bad());
        }
        Ok(TicketNo { prefix, number })
    }
}

impl Serialize for TicketNo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TicketNo {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_numbers_name_their_day_hall_and_ticket() {
        let day = crate::Day::new(2026, 11, 26).unwrap();
        let n = CaseNo::for_ticket(day, &HallId::new("east-2"), TicketNo::new('B', 3));
        assert_eq!(n.as_str(), "20261126-east-2-B003");
        assert_eq!(n.parts(), Some((day, HallId::new("east-2"), TicketNo::new('B', 3))));
        for bad in [
            "",
            "20261126",
            "20261126-main",
            "2026112-main-B003",
            "20261131-main-B003",
            "20261126--B003",
            "20261126-Main-B003",
            "20261126-main-b003",
        ] {
            assert_eq!(CaseNo::new(bad).parts(), None, "{bad}");
        }
    }

    #[test]
    fn ticket_numbers() {
        assert_eq!(TicketNo::new('A', 23).to_string(), "A023");
        assert_eq!(TicketNo::new('B', 1234).to_string(), "B1234");
        assert_eq!("A023".parse::<TicketNo>().unwrap(), TicketNo::new('A', 23));
        for bad in ["", "a023", "A", "A0", "AB1", "A-1"] {
            assert!(bad.parse::<TicketNo>().is_err(), "{bad}");
        }
    }
}
