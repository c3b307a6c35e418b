//! CSV export of any statistics table: RFC 4180 quoting, CRLF line ends, UTF-8 with a byte
//! order mark so Excel opens Chinese text correctly. A text cell that a spreadsheet would take
//! for a formula (`=`, `+`, `-`, `@`, tab, carriage return first) is prefixed with `'`.

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    /// A number with this many decimals.
    Num(f64, usize),
    Empty,
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }
}
impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}
impl From<u64> for Cell {
    fn from(n: u64) -> Cell {
        Cell::Int(n as i64)
    }
}
impl From<Option<f64>> for Cell {
    fn from(n: Option<f64>) -> Cell {
        n.map_or(Cell::Empty, |v| Cell::Num(v, 1))
    }
}
impl From<Option<u32>> for Cell {
    fn from(n: Option<u32>) -> Cell {
        n.map_or(Cell::Empty, |v| Cell::Int(i64::from(v)))
    }
}

/// Writes one text field, quoted when it must be.
pub fn field(out: &mut String, s: &str) {
    let guarded;
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        guarded = format!("'{s}");
        guarded.as_str()
    } else {
        s
    };
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// The table as CSV text (with the byte order mark).
pub fn table(header: &[&str], rows: &[Vec<Cell>]) -> String {
    let mut out = String::from("\u{feff}");
    let mut line = |cells: &mut dyn Iterator<Item = Cell>| {
        for (i, c) in cells.enumerate() {
            if i > 0 {
                out.push(',');
            }
            match c {
                Cell::Text(s) => field(&mut out, &s),
                Cell::Int(n) => out.push_str(&n.to_string()),
                Cell::Num(v, d) => out.push_str(&format!("{v:.d$}")),
                Cell::Empty => {}
            }
        }
        out.push_str("\r\n");
    };
    line(&mut header.iter().map(|h| Cell::from(*h)));
    for r in rows {
        line(&mut r.iter().cloned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_follows_rfc_4180_and_starts_with_a_bom() {
        let csv = table(
            &["名称", "n"],
            &[
                vec!["计算机学院".into(), Cell::Int(3)],
                vec!["a,b".into(), Cell::Num(2.5, 1)],
                vec!["say \"hi\"".into(), Cell::Empty],
                vec!["two\nlines".into(), Cell::Int(-1)],
                vec!["=HYPERLINK(\"x\")".into(), Cell::Int(0)],
                vec![" pad".into(), Cell::Int(0)],
            ],
        );
        assert!(csv.starts_with('\u{feff}'));
        let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').split("\r\n").collect();
        assert_eq!(lines[0], "名称,n");
        assert_eq!(lines[1], "计算机学院,3");
        assert_eq!(lines[2], "\"a,b\",2.5");
        assert_eq!(lines[3], "\"say \"\"hi\"\"\",");
        assert_eq!(lines[4], "\"two\nlines\",-1");
        assert_eq!(lines[5], "\"'=HYPERLINK(\"\"x\"\")\",0");
        assert_eq!(lines[6], "\" pad\",0");
        assert_eq!(lines[7], "");
    }
}
