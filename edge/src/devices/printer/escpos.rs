//! The ESC/POS encoder: a ticket and a test page as the bytes a thermal receipt printer prints,
//! and the real-time status queries (`DLE EOT n`) with their answers decoded.
//!
//! Architecture invariant: this module does no IO. Text is encoded in GB18030 (the printer is
//! put in Chinese character mode with `FS &`), QR codes use the printer's own QR commands
//! (`GS ( k`, model 2, error correction M), and every receipt ends with a partial cut.
//! The layout assumes 58 mm paper (384 dots, 32 columns of font A) and also fits 80 mm.

use encoding_rs::GB18030;

/// Dots across the printable width of 58 mm paper; the layout never exceeds it.
pub const DOTS_58MM: u32 = 384;
/// Columns of font A (12 dots) on 58 mm paper; a CJK character takes two.
pub const COLUMNS_58MM: usize = 32;

const ESC: u8 = 0x1b;
const GS: u8 = 0x1d;
const FS: u8 = 0x1c;
const DLE: u8 = 0x10;
const EOT: u8 = 0x04;
const LF: u8 = 0x0a;

/// What a ticket shows. Strings are printed as given (control characters become spaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketPrint {
    /// The hall's name in Chinese, printed first, bold and double height.
    pub hall: String,
    /// The hall's name in English.
    pub hall_en: String,
    /// The ticket number, e.g. "A023", printed as large as fits 58 mm paper.
    pub number: String,
    /// The service in Chinese.
    pub service: String,
    /// The service in English.
    pub service_en: String,
    /// People ahead of this ticket when it was issued.
    pub ahead: u32,
    /// Estimated wait in minutes.
    pub wait_minutes: u32,
    /// Issue time, already formatted in local time, e.g. "2026-11-26 09:03".
    pub issued_at: String,
    /// The QR code's payload: the ticket's page on the website.
    pub url: String,
    /// Closing lines (Chinese and English), separated by '\n'.
    pub footer: String,
}

/// Text alignment (`ESC a n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Align {
    #[default]
    Left,
    Center,
    Right,
}

/// How a receipt is cut (`GS V`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// One point left uncut, so the ticket does not fall on the floor.
    Partial,
    Full,
}

/// An ESC/POS byte stream under construction.
#[derive(Default)]
struct Out(Vec<u8>);

impl Out {
    fn init(&mut self) {
        // ESC @ resets modes; FS & selects Chinese character mode (GB18030 double-byte text).
        self.0.extend_from_slice(&[ESC, b'@', FS, b'&']);
    }
    fn align(&mut self, a: Align) {
        let n = match a {
            Align::Left => 0,
            Align::Center => 1,
            Align::Right => 2,
        };
        self.0.extend_from_slice(&[ESC, b'a', n]);
    }
    fn bold(&mut self, on: bool) {
        self.0.extend_from_slice(&[ESC, b'E', u8::from(on)]);
    }
    /// `GS ! n`: width and height magnification, each 1..=8.
    fn size(&mut self, width: u8, height: u8) {
        let (w, h) = (width.clamp(1, 8) - 1, height.clamp(1, 8) - 1);
        self.0.extend_from_slice(&[GS, b'!', (w << 4) | h]);
    }
    /// One line of text, encoded in GB18030, ending with LF.
    fn line(&mut self, text: &str) {
        self.0.extend_from_slice(&gb18030(text));
        self.0.push(LF);
    }
    /// A Chinese and an English text on one line when they fit, else on two.
    fn bilingual(&mut self, zh: &str, en: &str) {
        let joined = format!("{zh} / {en}");
        if columns(&joined) <= COLUMNS_58MM {
            self.line(&joined);
        } else {
            self.line(zh);
            self.line(en);
        }
    }
    fn feed(&mut self, lines: u8) {
        self.0.extend_from_slice(&[ESC, b'd', lines]);
    }
    /// A QR code (model 2, error correction M) printed with the printer's own QR commands.
    fn qr(&mut self, payload: &str) {
        let module = qr_module_size(payload);
        // Function 165: select the model (n1 = 50: model 2).
        self.gs_k(&[49, 65, 50, 0]);
        // Function 167: module size in dots.
        self.gs_k(&[49, 67, module]);
        // Function 169: error correction level (49 = M).
        self.gs_k(&[49, 69, 49]);
        // Function 180: store the data (m = 48).
        let mut store = vec![49, 80, 48];
        store.extend_from_slice(payload.as_bytes());
        self.gs_k(&store);
        // Function 181: print the stored symbol.
        self.gs_k(&[49, 81, 48]);
    }
    /// `GS ( k pL pH` followed by `params` (cn fn ...).
    fn gs_k(&mut self, params: &[u8]) {
        let len = u16::try_from(params.len()).expect("a QR payload is at most 7089 bytes");
        let [pl, ph] = len.to_le_bytes();
        self.0.extend_from_slice(&[GS, b'(', b'k', pl, ph]);
        self.0.extend_from_slice(params);
    }
    /// `GS V 66 n`: feed to the cutter plus n motion units, then cut leaving one point.
    fn partial_cut(&mut self) {
        self.0.extend_from_slice(&[GS, b'V', 66, 3]);
    }
}

/// The text in GB18030, with control characters replaced by spaces so that no caller-supplied
/// string can inject printer commands.
pub fn gb18030(text: &str) -> Vec<u8> {
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    // GB18030 encodes every Unicode scalar value, so this never substitutes characters.
    let (bytes, _, _) = GB18030.encode(&clean);
    bytes.into_owned()
}

/// Printed width in font-A columns: one for ASCII, two for anything else (CJK is double width).
pub fn columns(text: &str) -> usize {
    text.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
}

/// The QR module size in dots so that the symbol is at most ~260 dots wide (fits 58 mm paper
/// with margins), between 3 and 8 dots.
fn qr_module_size(payload: &str) -> u8 {
    let modules = qrcode::QrCode::with_error_correction_level(payload, qrcode::EcLevel::M)
        .map(|c| c.width())
        .unwrap_or(177);
    u8::try_from((260 / modules).clamp(3, 8)).unwrap_or(3)
}

/// The largest magnification (at most 5) at which `text` fits one 58 mm line.
fn largest_fitting(text: &str) -> u8 {
    let cols = columns(text).max(1);
    (1..=5u8).rev().find(|m| cols * usize::from(*m) <= COLUMNS_58MM).unwrap_or(1)
}

/// The bytes of one ticket. Guarantees: starts with `ESC @`; all text is GB18030; the ticket
/// number is printed at the largest magnification (up to 5×5) that fits 58 mm paper; the QR
/// code holds exactly `t.url`; ends with a partial cut (`GS V 66 n`), and nothing follows it.
pub fn ticket(t: &TicketPrint) -> Vec<u8> {
    let mut o = Out::default();
    o.init();
    o.align(Align::Center);

    o.bold(true);
    o.size(1, 2);
    o.line(&t.hall);
    o.size(1, 1);
    o.bold(false);
    o.line(&t.hall_en);
    o.feed(1);

    let m = largest_fitting(&t.number);
    o.bold(true);
    o.size(m, m);
    o.line(&t.number);
    o.size(1, 1);
    o.bold(false);
    o.feed(1);

    o.size(1, 2);
    o.line(&t.service);
    o.size(1, 1);
    o.line(&t.service_en);
    o.feed(1);

    o.bilingual(&format!("前面还有 {} 人", t.ahead), &format!("{} ahead", t.ahead));
    o.bilingual(&format!("预计等候约 {} 分钟", t.wait_minutes), &format!("about {} min", t.wait_minutes));
    o.line(&t.issued_at);
    o.feed(1);

    o.qr(&t.url);
    o.feed(1);

    for line in t.footer.lines() {
        o.line(line);
    }
    o.feed(3);
    o.partial_cut();
    o.0
}

/// The bytes of a printer test page: Chinese and English text at several sizes, a column
/// ruler for 58 mm paper, a QR code, and a partial cut at the end.
pub fn test_page(hall: &str, now: &str) -> Vec<u8> {
    let mut o = Out::default();
    o.init();
    o.align(Align::Center);
    o.bold(true);
    o.size(2, 2);
    o.line("打印测试");
    o.size(1, 1);
    o.line("PRINTER TEST");
    o.bold(false);
    o.line(hall);
    o.line(now);
    o.feed(1);
    o.align(Align::Left);
    o.line("中文：一站式服务大厅 排队取号");
    o.line("English: Onestop service hall");
    o.line("12345678901234567890123456789012");
    o.size(1, 2);
    o.line("倍高 double height");
    o.size(2, 1);
    o.line("倍宽 WIDE");
    o.size(1, 1);
    o.bold(true);
    o.line("粗体 bold");
    o.bold(false);
    o.align(Align::Center);
    o.feed(1);
    o.qr(&test_page_qr(now));
    o.feed(1);
    o.bilingual("二维码能扫即正常", "QR scans = OK");
    o.feed(3);
    o.partial_cut();
    o.0
}

/// The QR payload of the test page printed at `now`.
pub fn test_page_qr(now: &str) -> String {
    format!("ONESTOP PRINTER TEST {now}")
}

/// The real-time status query `DLE EOT n` (n = 1 printer, 2 offline cause, 3 error cause,
/// 4 roll paper sensor). The printer answers each with one byte, even while offline.
pub fn status_query(n: u8) -> [u8; 3] {
    [DLE, EOT, n]
}

/// What the printer last said about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrinterStatus {
    /// The printer accepts data for printing (DLE EOT 1 bit 3 clear, no error).
    pub online: bool,
    /// The cover is open (DLE EOT 2 bit 2).
    pub cover_open: bool,
    /// The roll is nearly used up (DLE EOT 4 bits 2-3); printing still works.
    pub paper_near_end: bool,
    /// No paper (DLE EOT 4 bits 5-6, or DLE EOT 2 bit 5: stopped at paper end).
    pub paper_out: bool,
}

impl PrinterStatus {
    /// A printer with nothing to report.
    pub const READY: PrinterStatus =
        PrinterStatus { online: true, cover_open: false, paper_near_end: false, paper_out: false };

    /// Both reports together: offline if either is, each condition if either reports it.
    #[must_use]
    pub fn merge(self, other: PrinterStatus) -> PrinterStatus {
        PrinterStatus {
            online: self.online && other.online,
            cover_open: self.cover_open || other.cover_open,
            paper_near_end: self.paper_near_end || other.paper_near_end,
            paper_out: self.paper_out || other.paper_out,
        }
    }

    /// True when a ticket sent now would print: online, paper in, cover closed.
    pub fn can_print(&self) -> bool {
        self.online && !self.cover_open && !self.paper_out
    }

    /// Bilingual texts for the hall's staff, most urgent first; empty when all is well.
    /// "Offline" is listed only when paper out or an open cover does not already explain it.
    pub fn incidents(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.paper_out {
            v.push("打印机缺纸 / printer out of paper");
        }
        if self.cover_open {
            v.push("打印机盖未合上 / printer cover open");
        }
        if !self.online && !self.paper_out && !self.cover_open {
            v.push("打印机离线 / printer offline");
        }
        if self.paper_near_end && !self.paper_out {
            v.push("纸将用尽 / paper near end");
        }
        v
    }
}

/// A byte that is not a valid answer to `DLE EOT n`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("DLE EOT {0} is not a status query (1 to 4)")]
    UnknownQuery(u8),
    #[error("0x{byte:02X} is not a status byte (bits 1 and 4 must be set, 0 and 7 clear)")]
    NotAStatusByte { byte: u8 },
}

/// Decodes the answer `byte` to `DLE EOT n` per the Epson ESC/POS reference. The result holds
/// what this one answer says; the conditions it does not report are left as in
/// [`PrinterStatus::READY`], so answers are combined with [`PrinterStatus::merge`].
/// Errors: `n` not in 1..=4, or a byte without the fixed bits of a status answer
/// (0x12 mask: bits 1 and 4 set, bits 0 and 7 clear).
pub fn parse_status(n: u8, byte: u8) -> Result<PrinterStatus, StatusError> {
    if !(1..=4).contains(&n) {
        return Err(StatusError::UnknownQuery(n));
    }
    if byte & 0b1001_0011 != 0b0001_0010 {
        return Err(StatusError::NotAStatusByte { byte });
    }
    let mut s = PrinterStatus::READY;
    match n {
        // Bit 3: offline.
        1 => s.online = byte & 0x08 == 0,
        // Bit 2: cover open; bit 5: printing stopped at paper end; bit 6: error.
        2 => {
            s.cover_open = byte & 0x04 != 0;
            s.paper_out = byte & 0x20 != 0;
            s.online = byte & 0x40 == 0;
        }
        // Bit 3: autocutter error; bit 5: unrecoverable; bit 6: auto-recoverable error.
        3 => s.online = byte & 0x68 == 0,
        // Bits 2-3: roll paper near end; bits 5-6: roll paper end.
        _ => {
            s.paper_near_end = byte & 0x0c != 0;
            s.paper_out = byte & 0x60 != 0;
        }
    }
    Ok(s)
}

/// The answer a printer in `status` gives to `DLE EOT n` (used by the simulated printer).
pub fn status_byte(n: u8, status: PrinterStatus) -> u8 {
    let mut b = 0x12;
    match n {
        1 if !status.can_print() => b |= 0x08,
        2 => {
            if status.cover_open {
                b |= 0x04;
            }
            if status.paper_out {
                b |= 0x20;
            }
        }
        4 => {
            if status.paper_near_end || status.paper_out {
                b |= 0x0c;
            }
            if status.paper_out {
                b |= 0x60;
            }
        }
        _ => {}
    }
    b
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn gb18030_bytes_of_known_text() {
        assert_eq!(gb18030("请"), [0xc7, 0xeb]);
        assert_eq!(gb18030("A023 请"), [b'A', b'0', b'2', b'3', b' ', 0xc7, 0xeb]);
        // A character outside GBK takes the four-byte form.
        assert_eq!(gb18030("😀"), [0x94, 0x39, 0xfc, 0x36]);
        // No control byte can be injected through a text field.
        assert_eq!(gb18030("a\x1bb\n"), b"a b ");
    }

    #[test]
    fn ticket_bytes_frame() {
        let t = sample();
        let b = ticket(&t);
        assert_eq!(&b[..4], &[ESC, b'@', FS, b'&']);
        assert_eq!(&b[b.len() - 4..], &[GS, b'V', 66, 3]);
        let hall = gb18030(&t.hall);
        assert!(b.windows(hall.len()).any(|w| w == hall), "hall name in GB18030");
        // QR model 2, error correction M, and the payload stored verbatim.
        assert!(b.windows(9).any(|w| w == [GS, b'(', b'k', 4, 0, 49, 65, 50, 0]));
        assert!(b.windows(8).any(|w| w == [GS, b'(', b'k', 3, 0, 49, 69, 49]));
        let mut store = vec![GS, b'(', b'k'];
        store.extend_from_slice(&u16::try_from(t.url.len() + 3).unwrap().to_le_bytes());
        store.extend_from_slice(&[49, 80, 48]);
        store.extend_from_slice(t.url.as_bytes());
        assert!(b.windows(store.len()).any(|w| w == store));
    }

    #[test]
    fn number_magnification_fits_the_paper() {
        assert_eq!(largest_fitting("A023"), 5);
        assert_eq!(largest_fitting("A0023"), 5);
        assert_eq!(largest_fitting("A00023"), 5);
        assert_eq!(largest_fitting("A000023"), 4);
        assert_eq!(largest_fitting("号码很长很长很长很长很长很长很长很长"), 1);
    }

    #[test]
    fn qr_module_size_bounds() {
        assert_eq!(qr_module_size("x"), 8);
        let long = "https://onestop.example.edu/t/".to_string() + &"x".repeat(600);
        assert_eq!(qr_module_size(&long), 3);
    }

    #[test]
    fn status_bytes_decode_per_spec() {
        let check = |n, byte, expected: PrinterStatus| assert_eq!(parse_status(n, byte), Ok(expected));
        let r = PrinterStatus::READY;
        check(1, 0x12, r);
        check(1, 0x16, r); // bit 2: drawer pin, not our concern
        check(1, 0x1a, PrinterStatus { online: false, ..r });
        check(2, 0x12, r);
        check(2, 0x16, PrinterStatus { cover_open: true, ..r });
        check(2, 0x32, PrinterStatus { paper_out: true, ..r });
        check(2, 0x52, PrinterStatus { online: false, ..r });
        check(3, 0x12, r);
        check(3, 0x1a, PrinterStatus { online: false, ..r });
        check(4, 0x12, r);
        check(4, 0x1e, PrinterStatus { paper_near_end: true, ..r });
        check(4, 0x72, PrinterStatus { paper_out: true, ..r });
        check(4, 0x7e, PrinterStatus { paper_near_end: true, paper_out: true, ..r });
        assert_eq!(parse_status(5, 0x12), Err(StatusError::UnknownQuery(5)));
        assert_eq!(parse_status(1, 0x00), Err(StatusError::NotAStatusByte { byte: 0 }));
        assert_eq!(parse_status(1, 0x93), Err(StatusError::NotAStatusByte { byte: 0x93 }));
        assert_eq!(status_query(4), [0x10, 0x04, 4]);
    }

    #[test]
    fn status_bytes_round_trip() {
        for bits in 0..8u8 {
            let s = PrinterStatus {
                online: true,
                cover_open: bits & 1 != 0,
                paper_near_end: bits & 2 != 0,
                paper_out: bits & 4 != 0,
            };
            let back = [1, 2, 4]
                .iter()
                .map(|&n| parse_status(n, status_byte(n, s)).unwrap())
                .fold(PrinterStatus::READY, PrinterStatus::merge);
            let expected =
                PrinterStatus { online: s.can_print(), paper_near_end: s.paper_near_end || s.paper_out, ..s };
            assert_eq!(back, expected, "{s:?}");
        }
    }

    #[test]
    fn incidents_are_bilingual_and_not_redundant() {
        let r = PrinterStatus::READY;
        assert!(r.incidents().is_empty());
        assert_eq!(
            PrinterStatus { online: false, paper_out: true, paper_near_end: true, ..r }.incidents(),
            ["打印机缺纸 / printer out of paper"]
        );
        assert_eq!(PrinterStatus { online: false, ..r }.incidents(), ["打印机离线 / printer offline"]);
        assert_eq!(
            PrinterStatus { online: false, cover_open: true, paper_near_end: true, ..r }.incidents(),
            ["打印机盖未合上 / printer cover open", "纸将用尽 / paper near end"]
        );
    }

    pub(crate) fn sample() -> TicketPrint {
        sample_numbered("A023")
    }

    /// A realistic ticket with the given number.
    pub(crate) fn sample_numbered(number: &str) -> TicketPrint {
        TicketPrint {
            hall: "东区一站式服务大厅".into(),
            hall_en: "East Campus Service Hall".into(),
            number: number.into(),
            service: "学生证补办".into(),
            service_en: "Student ID replacement".into(),
            ahead: 3,
            wait_minutes: 15,
            issued_at: "2026-11-26 09:03".into(),
            url: format!("https://onestop.example.edu/t/east/2026-11-26/{number}"),
            footer: "请留意叫号，过号请重新取号\nPlease listen for your number.".into(),
        }
    }
}
