//! The campus-card directory: the card system's CSV export (UTF-8 or GB18030) read into
//! entries with a row-by-row report of what was refused, and published whole.

use onestop_model::{CardEntry, PersonKind};
use onestop_protocol::{DocId, cards};
use onestop_store::ReadDocs;

/// A row the import could not use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The line in the file (1 = the header).
    pub line: u64,
    pub reason: String,
    pub row: String,
}

/// What a file holds.
#[derive(Debug, Default)]
pub struct Import {
    pub entries: Vec<CardEntry>,
    pub rejected: Vec<Rejected>,
    /// The file was GB18030, not UTF-8.
    pub gb18030: bool,
}

const CARD: &[&str] = &["card", "card_no", "cardno", "卡号", "校园卡号", "学工号", "证件号"];
const KIND: &[&str] = &["kind", "type", "category", "身份", "类别", "人员类别", "人员类型"];
const COLLEGE: &[&str] = &["college", "department", "unit", "学院", "部门", "单位", "院系"];

fn kind(s: &str) -> Option<PersonKind> {
    let s = s.trim().to_lowercase();
    PersonKind::parse(&s).or(match s.as_str() {
        "本科生" | "本科" | "学生" | "ug" => Some(PersonKind::Undergraduate),
        "研究生" | "硕士" | "博士" | "硕士研究生" | "博士研究生" | "pg" => {
            Some(PersonKind::Graduate)
        }
        "教职工" | "教工" | "职工" | "教师" | "员工" => Some(PersonKind::Staff),
        "其他" | "访客" | "校友" => Some(PersonKind::Other),
        _ => None,
    })
}

fn valid_card(c: &str) -> bool {
    (4..=32).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Reads a card-system export: a header row naming the card, kind and college columns (in
/// English or Chinese), then one card a row.
pub fn parse(bytes: &[u8]) -> Result<Import, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let (text, gb18030) = match std::str::from_utf8(bytes) {
        Ok(t) => (std::borrow::Cow::Borrowed(t), false),
        Err(_) => {
            let (t, _, bad) = encoding_rs::GB18030.decode(bytes);
            if bad {
                return Err(
                    "文件既不是 UTF-8 也不是 GB18030 编码 / the file is neither UTF-8 nor GB18030 text"
                        .into(),
                );
            }
            (t, true)
        }
    };
    let mut reader =
        csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers =
        reader.headers().map_err(|e| format!("无法读取表头 / cannot read the header row: {e}"))?.clone();
    let find = |names: &[&str]| headers.iter().position(|h| names.contains(&h.to_lowercase().as_str()));
    let (Some(ci), Some(ki), Some(gi)) = (find(CARD), find(KIND), find(COLLEGE)) else {
        return Err(format!(
            "表头须包含卡号、身份、学院三列（如 卡号,身份,学院 或 card,kind,college），实际为：{} / the header must name the card, kind and college columns (e.g. card,kind,college); it is: {}",
            headers.iter().collect::<Vec<_>>().join(","),
            headers.iter().collect::<Vec<_>>().join(",")
        ));
    };
    let mut out = Import { gb18030, ..Import::default() };
    let mut seen = std::collections::HashSet::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                out.rejected.push(Rejected {
                    line,
                    reason: format!("无法解析 / unreadable: {e}"),
                    row: String::new(),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let row = record.iter().collect::<Vec<_>>().join(",");
        if record.iter().all(str::is_empty) {
            continue;
        }
        let get = |i: usize| record.get(i).unwrap_or("").to_string();
        let (card, k, college) = (get(ci), get(ki), get(gi));
        let reason = if card.is_empty() {
            Some("卡号为空 / no card number".to_string())
        } else if !valid_card(&card) {
            Some("卡号须为 4–32 位字母或数字 / a card number is 4–32 letters or digits".to_string())
        } else if kind(&k).is_none() {
            Some(format!(
                "身份“{k}”无法识别（本科生、研究生、教职工、其他）/ unknown kind \"{k}\" (undergraduate, graduate, staff, other)"
            ))
        } else if college.is_empty() {
            Some("学院为空 / no college".to_string())
        } else if college.contains('|') || college.chars().count() > 64 {
            Some("学院名称过长或含“|” / the college is too long or contains '|'".to_string())
        } else if !seen.insert(card.clone()) {
            Some("卡号重复（保留第一行）/ card number repeated (the first row is kept)".to_string())
        } else {
            None
        };
        match reason {
            Some(reason) => out.rejected.push(Rejected { line, reason, row }),
            None => out.entries.push(CardEntry { card, kind: kind(&k).expect("checked"), college }),
        }
    }
    Ok(out)
}

/// How many cards the published directory holds.
pub fn count(core: &super::Core) -> Result<usize, super::Error> {
    Ok(core.store().card_count()?)
}

/// Reads a card system export and publishes its cards as the whole directory (one write,
/// which tells the halls at once). Rows that cannot be used are reported, not published; an
/// export with no usable row changes nothing.
pub fn import(core: &super::Core, bytes: &[u8]) -> Result<Import, super::Error> {
    use super::Error;
    let import = parse(bytes).map_err(Error::Invalid)?;
    if import.entries.is_empty() {
        return Err(Error::Invalid(
            "没有可用的行，名录未更改 / no usable row: the directory is unchanged".into(),
        ));
    }
    core.write_doc(&[DocId::Cards], |b| {
        b.edit(&DocId::Cards, |tx| Ok(cards::replace_all(tx, &import.entries)?))
    })?;
    Ok(import)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_with_bad_rows_is_reported_row_by_row() {
        let csv = "\u{feff}卡号,姓名,身份,学院\n\
                   2023010203,张三,本科生,计算机学院\n\
                   2023010204,李四,研究生,\"数学学院, 统计系\"\n\
                   ,王五,本科生,化学学院\n\
                   2023010203,张三,本科生,计算机学院\n\
                   T0001,赵六,教职工,图书馆\n\
                   x!,钱七,本科生,物理学院\n\
                   2023010206,孙八,外星人,物理学院\n\
                   2023010207,周九,本科生,\n";
        let i = parse(csv.as_bytes()).unwrap();
        assert_eq!(i.entries.len(), 3);
        assert_eq!(i.entries[1].college, "数学学院, 统计系");
        assert_eq!(i.entries[2].kind, PersonKind::Staff);
        let lines: Vec<u64> = i.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![4, 5, 7, 8, 9]);
        assert!(i.rejected[1].reason.contains("repeated"));
        assert!(i.rejected[3].reason.contains("外星人"));
        assert!(!i.gb18030);
    }

    #[test]
    fn gb18030_exports_are_read() {
        let text = "card,kind,college\n2023010203,本科生,计算机学院\n";
        let (bytes, _, _) = encoding_rs::GB18030.encode(text);
        let i = parse(&bytes).unwrap();
        assert!(i.gb18030);
        assert_eq!(i.entries[0].college, "计算机学院");
    }

    #[test]
    fn a_header_without_the_columns_is_refused() {
        let e = parse(b"a,b,c\n1,2,3\n").unwrap_err();
        assert!(e.contains("card, kind and college"));
    }
}
