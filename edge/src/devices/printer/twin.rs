//! The simulated printer: decodes ESC/POS bytes back into receipts, draws them as PNG images,
//! and [`PtyPrinter`] plays a whole serial printer on a pseudo-terminal so that the real
//! serial adapter and printer service can be tested end to end.
//!
//! The decoder is strict: it understands every command [`super::escpos`] emits (and the common
//! `ESC !` and full cuts), and records anything else in [`Receipt::unknown`] instead of
//! guessing. Text is decoded as GB18030; text above 0x7F outside Chinese mode (`FS &`) is
//! flagged, because a printer would print it as code-page garbage.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ab_glyph::{Font, FontArc, PxScale, ScaleFont, point};
use encoding_rs::GB18030;
use image::{GrayImage, Luma};
use serialport::{SerialPort, TTYPort};

use super::escpos::{Align, Cut, PrinterStatus, status_byte};

/// One printed line with the modes in force when its first character arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The text, decoded from GB18030 (empty for a blank line).
    pub text: String,
    pub bold: bool,
    /// Width magnification, 1..=8.
    pub width: u8,
    /// Height magnification, 1..=8.
    pub height: u8,
    pub align: Align,
}

/// What was printed, in paper order: a line or a QR code (indices into `lines` and `qr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    Line(usize),
    /// A QR code: `module` dots a module, error correction `ec` ('L', 'M', 'Q' or 'H').
    Qr {
        index: usize,
        module: u8,
        ec: char,
        align: Align,
    },
}

/// One receipt: everything printed up to and including a cut (or the end of the bytes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Receipt {
    pub lines: Vec<Line>,
    /// The payloads of the QR codes printed, in order.
    pub qr: Vec<String>,
    /// Lines and QR codes in paper order.
    pub blocks: Vec<Block>,
    /// The cut that ended the receipt; `None` when the bytes ended without one.
    pub cut: Option<Cut>,
    /// Commands the twin does not understand or that a printer would misprint, each with its
    /// byte offset in the stream. Empty for well-formed input.
    pub unknown: Vec<String>,
}

impl Receipt {
    /// The lines' texts joined with '\n' (blank lines included).
    pub fn text(&self) -> String {
        self.lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n")
    }

    /// The ticket number: the first line printed at least 3× in both directions, if any.
    pub fn big_text(&self) -> Option<&str> {
        self.lines.iter().find(|l| l.width >= 3 && l.height >= 3 && !l.text.is_empty()).map(|l| l.text.trim())
    }

    /// A human-readable transcript: the text, QR payloads in place, the cut and any unknown
    /// commands.
    pub fn transcript(&self) -> String {
        let mut s = String::new();
        for b in &self.blocks {
            match *b {
                Block::Line(i) => {
                    let l = &self.lines[i];
                    let _ = writeln!(s, "{}", l.text);
                }
                Block::Qr { index, .. } => {
                    let _ = writeln!(s, "[QR] {}", self.qr[index]);
                }
            }
        }
        match self.cut {
            Some(Cut::Partial) => s.push_str("[partial cut]\n"),
            Some(Cut::Full) => s.push_str("[full cut]\n"),
            None => s.push_str("[no cut]\n"),
        }
        for u in &self.unknown {
            let _ = writeln!(s, "[unknown] {u}");
        }
        s
    }
}

/// Decodes a whole byte stream into receipts; a receipt ends at each cut, and bytes after the
/// last cut form a final receipt with `cut: None`. Status queries are skipped. Never panics:
/// malformed input ends up in [`Receipt::unknown`].
pub fn parse(bytes: &[u8]) -> Vec<Receipt> {
    let mut stream = Stream::default();
    let mut builder = Builder::default();
    let mut out = Vec::new();
    for (cmd, offset) in stream.feed(bytes) {
        if let Some(r) = builder.apply(cmd, offset) {
            out.push(r);
        }
    }
    if let Some(rest) = stream.rest() {
        builder.receipt.unknown.push(rest);
        builder.touched = true;
    }
    if let Some(r) = builder.finish() {
        out.push(r);
    }
    out
}

/// One decoded command.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Command {
    Text(Vec<u8>),
    LineFeed,
    Init,
    ChineseMode(bool),
    Align(Align),
    Bold(bool),
    /// `GS !`: width and height magnification.
    Size(u8, u8),
    /// `ESC !`: print mode bits.
    PrintMode(u8),
    Feed(u8),
    QrModel(u8),
    QrModule(u8),
    QrEc(u8),
    QrStore(Vec<u8>),
    QrPrint,
    Cut(Cut),
    Status(u8),
    Unknown(String),
}

enum Token {
    Complete(Command, usize),
    Incomplete,
}

fn name(b: u8) -> String {
    if b.is_ascii_graphic() { format!("'{}' (0x{b:02X})", b as char) } else { format!("0x{b:02X}") }
}

/// The command at the start of `b`, with its length, or `Incomplete` if more bytes are needed.
fn next_command(b: &[u8]) -> Token {
    use Command as C;
    use Token::{Complete, Incomplete};
    let need = |n: usize| b.len() < n;
    match b[0] {
        0x0a => Complete(C::LineFeed, 1),
        0x1b => {
            if need(2) {
                return Incomplete;
            }
            let with_arg = |f: fn(u8) -> Command| if need(3) { Incomplete } else { Complete(f(b[2]), 3) };
            match b[1] {
                b'@' => Complete(C::Init, 2),
                b'a' => with_arg(|n| match n {
                    0 | 48 => C::Align(Align::Left),
                    1 | 49 => C::Align(Align::Center),
                    2 | 50 => C::Align(Align::Right),
                    n => C::Unknown(format!("ESC a with invalid n={n}")),
                }),
                b'E' => with_arg(|n| C::Bold(n & 1 == 1)),
                b'!' => with_arg(C::PrintMode),
                b'd' => with_arg(C::Feed),
                x => Complete(C::Unknown(format!("unknown command ESC {}", name(x))), 2),
            }
        }
        0x1c => {
            if need(2) {
                return Incomplete;
            }
            match b[1] {
                b'&' => Complete(C::ChineseMode(true), 2),
                b'.' => Complete(C::ChineseMode(false), 2),
                x => Complete(C::Unknown(format!("unknown command FS {}", name(x))), 2),
            }
        }
        0x1d => {
            if need(2) {
                return Incomplete;
            }
            match b[1] {
                b'!' if need(3) => Incomplete,
                b'!' if b[2] & 0x88 != 0 => {
                    Complete(C::Unknown(format!("GS ! with invalid size 0x{:02X}", b[2])), 3)
                }
                b'!' => Complete(C::Size((b[2] >> 4) + 1, (b[2] & 0x0f) + 1), 3),
                b'V' if need(3) => Incomplete,
                b'V' => match b[2] {
                    0 | 48 => Complete(C::Cut(Cut::Full), 3),
                    1 | 49 => Complete(C::Cut(Cut::Partial), 3),
                    65 | 66 if need(4) => Incomplete,
                    65 => Complete(C::Cut(Cut::Full), 4),
                    66 => Complete(C::Cut(Cut::Partial), 4),
                    m => Complete(C::Unknown(format!("GS V with unknown mode {m}")), 3),
                },
                b'(' if need(3) => Incomplete,
                b'(' if b[2] != b'k' => {
                    Complete(C::Unknown(format!("unknown command GS ( {}", name(b[2]))), 3)
                }
                b'(' => {
                    if need(5) {
                        return Incomplete;
                    }
                    let len = usize::from(u16::from_le_bytes([b[3], b[4]]));
                    if need(5 + len) {
                        return Incomplete;
                    }
                    Complete(qr_function(&b[5..5 + len]), 5 + len)
                }
                x => Complete(C::Unknown(format!("unknown command GS {}", name(x))), 2),
            }
        }
        0x10 => {
            if need(2) {
                return Incomplete;
            }
            match b[1] {
                0x04 if need(3) => Incomplete,
                0x04 => Complete(C::Status(b[2]), 3),
                x => Complete(C::Unknown(format!("unknown real-time command DLE {}", name(x))), 2),
            }
        }
        x if x < 0x20 => Complete(C::Unknown(format!("unexpected control byte 0x{x:02X}")), 1),
        _ => {
            let end = b.iter().position(|&x| x < 0x20).unwrap_or(b.len());
            Complete(C::Text(b[..end].to_vec()), end)
        }
    }
}

/// `GS ( k` parameters: cn fn [args].
fn qr_function(p: &[u8]) -> Command {
    use Command as C;
    match p {
        [49, 65, n1, 0] if *n1 == 49 || *n1 == 50 => C::QrModel(*n1 - 48),
        [49, 67, n] if (1..=16).contains(n) => C::QrModule(*n),
        [49, 69, n] if (48..=51).contains(n) => C::QrEc(*n),
        [49, 80, 48, data @ ..] => C::QrStore(data.to_vec()),
        [49, 81, 48] => C::QrPrint,
        [cn, fun, ..] => {
            C::Unknown(format!("unsupported GS ( k function cn={cn} fn={fun} ({} bytes)", p.len()))
        }
        _ => C::Unknown(format!("GS ( k too short ({} bytes)", p.len())),
    }
}

/// Splits an incoming byte stream into commands, keeping an incomplete tail for the next feed.
#[derive(Default)]
struct Stream {
    pending: Vec<u8>,
    /// Stream offset of `pending[0]`.
    offset: usize,
}

impl Stream {
    /// The complete commands in the bytes so far, each with its stream offset.
    fn feed(&mut self, bytes: &[u8]) -> Vec<(Command, usize)> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut at = 0;
        while at < self.pending.len() {
            match next_command(&self.pending[at..]) {
                Token::Complete(cmd, len) => {
                    out.push((cmd, self.offset + at));
                    at += len;
                }
                Token::Incomplete => break,
            }
        }
        self.pending.drain(..at);
        self.offset += at;
        out
    }

    /// A description of the incomplete command left at the end, if any.
    fn rest(&self) -> Option<String> {
        (!self.pending.is_empty()).then(|| {
            let hex: Vec<String> = self.pending.iter().take(8).map(|b| format!("{b:02X}")).collect();
            format!("truncated command at byte {}: {}", self.offset, hex.join(" "))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Style {
    bold: bool,
    width: u8,
    height: u8,
    align: Align,
}

impl Default for Style {
    fn default() -> Self {
        Style { bold: false, width: 1, height: 1, align: Align::Left }
    }
}

/// Applies commands to a printer model (modes, line buffer, stored QR data) and collects
/// receipts. The model's memory switch has Chinese mode off after `ESC @`.
#[derive(Default)]
struct Builder {
    style: Style,
    chinese: bool,
    line: Vec<u8>,
    line_style: Option<Style>,
    line_flagged: bool,
    qr_data: Option<Vec<u8>>,
    qr_module: Option<u8>,
    qr_ec: Option<u8>,
    receipt: Receipt,
    /// Something other than a status query arrived since the last cut.
    touched: bool,
}

impl Builder {
    /// Applies one command; returns the receipt a cut finished.
    fn apply(&mut self, cmd: Command, offset: usize) -> Option<Receipt> {
        if matches!(cmd, Command::Status(_)) {
            return None;
        }
        self.touched = true;
        match cmd {
            Command::Text(bytes) => {
                if !self.chinese && !self.line_flagged && bytes.iter().any(|&b| b >= 0x80) {
                    self.line_flagged = true;
                    self.receipt
                        .unknown
                        .push(format!("text above 0x7F outside Chinese mode (no FS &) at byte {offset}"));
                }
                self.line_style.get_or_insert(self.style);
                self.line.extend_from_slice(&bytes);
            }
            Command::LineFeed => self.end_line(offset),
            Command::Init => {
                if !self.line.is_empty() {
                    self.receipt.unknown.push(format!("ESC @ discarded unprinted text at byte {offset}"));
                    self.line.clear();
                    self.line_style = None;
                }
                self.style = Style::default();
                self.chinese = false;
                self.qr_data = None;
                self.qr_module = None;
                self.qr_ec = None;
            }
            Command::ChineseMode(on) => self.chinese = on,
            Command::Align(a) => self.style.align = a,
            Command::Bold(b) => self.style.bold = b,
            Command::Size(w, h) => {
                self.style.width = w;
                self.style.height = h;
            }
            Command::PrintMode(n) => {
                self.style.bold = n & 0x08 != 0;
                self.style.height = if n & 0x10 != 0 { 2 } else { 1 };
                self.style.width = if n & 0x20 != 0 { 2 } else { 1 };
            }
            Command::Feed(n) => {
                if !self.line.is_empty() {
                    self.end_line(offset);
                }
                for _ in 0..n {
                    self.end_line(offset);
                }
            }
            Command::QrModel(2) => {}
            Command::QrModel(m) => self.receipt.unknown.push(format!("QR model {m} at byte {offset}")),
            Command::QrModule(n) => self.qr_module = Some(n),
            Command::QrEc(n) => self.qr_ec = Some(n),
            Command::QrStore(data) => self.qr_data = Some(data),
            Command::QrPrint => self.print_qr(offset),
            Command::Cut(cut) => {
                if !self.line.is_empty() {
                    self.receipt.unknown.push(format!("cut in the middle of a line at byte {offset}"));
                    self.end_line(offset);
                }
                let mut r = std::mem::take(&mut self.receipt);
                r.cut = Some(cut);
                self.touched = false;
                return Some(r);
            }
            Command::Status(_) => {}
            Command::Unknown(what) => self.receipt.unknown.push(format!("{what} at byte {offset}")),
        }
        None
    }

    fn print_qr(&mut self, offset: usize) {
        let Some(data) = self.qr_data.clone() else {
            self.receipt.unknown.push(format!("QR print with no stored data at byte {offset}"));
            return;
        };
        if !self.line.is_empty() {
            self.receipt.unknown.push(format!("QR printed in the middle of a line at byte {offset}"));
            self.end_line(offset);
        }
        let payload = match String::from_utf8(data) {
            Ok(s) => s,
            Err(e) => {
                self.receipt.unknown.push(format!("QR data is not UTF-8 at byte {offset}"));
                String::from_utf8_lossy(e.as_bytes()).into_owned()
            }
        };
        let ec = match self.qr_ec {
            Some(48) => 'L',
            Some(50) => 'Q',
            Some(51) => 'H',
            _ => 'M',
        };
        self.receipt.blocks.push(Block::Qr {
            index: self.receipt.qr.len(),
            module: self.qr_module.unwrap_or(3),
            ec,
            align: self.style.align,
        });
        self.receipt.qr.push(payload);
    }

    fn end_line(&mut self, offset: usize) {
        let style = self.line_style.take().unwrap_or(self.style);
        let (text, _, malformed) = GB18030.decode(&self.line);
        if malformed {
            self.receipt.unknown.push(format!("malformed GB18030 text before byte {offset}"));
        }
        self.receipt.blocks.push(Block::Line(self.receipt.lines.len()));
        self.receipt.lines.push(Line {
            text: text.into_owned(),
            bold: style.bold,
            width: style.width,
            height: style.height,
            align: style.align,
        });
        self.line.clear();
        self.line_flagged = false;
    }

    /// The receipt left after the last cut, if anything was printed into it.
    fn finish(mut self) -> Option<Receipt> {
        if !self.line.is_empty() {
            self.end_line(usize::MAX);
        }
        self.touched.then_some(self.receipt)
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering.

/// Paper widths in printer dots (203 dpi).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    /// 58 mm paper: 384 dots.
    Mm58,
    /// 80 mm paper: 576 dots.
    Mm80,
}

impl Paper {
    /// The printable width in dots.
    pub fn dots(self) -> u32 {
        match self {
            Paper::Mm58 => 384,
            Paper::Mm80 => 576,
        }
    }
}

/// CJK fonts looked for, in order (Debian packages fonts-wqy-microhei, fonts-wqy-zenhei,
/// fonts-noto-cjk, fonts-droid-fallback, fonts-arphic-uming).
pub const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
];

/// Why a receipt could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(
        "no CJK font found (looked for {tried}); install the Debian package fonts-wqy-microhei \
         (apt-get install fonts-wqy-microhei)"
    )]
    NoFont { tried: String },
    #[error("cannot load font {path}: {error}")]
    BadFont { path: PathBuf, error: String },
    #[error("QR payload {payload:?} cannot be encoded: {error}")]
    Qr { payload: String, error: String },
    #[error("cannot write PNG: {0}")]
    Image(#[from] image::ImageError),
}

/// The first CJK font among `candidates` that exists and loads.
pub fn load_font(candidates: &[&str]) -> Result<(PathBuf, FontArc), RenderError> {
    for c in candidates {
        let path = Path::new(c);
        let Ok(data) = std::fs::read(path) else { continue };
        return ab_glyph::FontVec::try_from_vec_and_index(data, 0)
            .map(|f| (path.to_path_buf(), FontArc::new(f)))
            .map_err(|e| RenderError::BadFont { path: path.to_path_buf(), error: e.to_string() });
    }
    Err(RenderError::NoFont { tried: candidates.join(", ") })
}

/// The system CJK font, loaded once and kept (a failed look-up is retried next time).
fn system_font() -> Result<FontArc, RenderError> {
    static FONT: Mutex<Option<FontArc>> = Mutex::new(None);
    let mut slot = lock(&FONT);
    if let Some(f) = &*slot {
        return Ok(f.clone());
    }
    let (_, font) = load_font(FONT_CANDIDATES)?;
    *slot = Some(font.clone());
    Ok(font)
}

/// Dots per font-A column and per line of text at magnification 1.
const CELL: u32 = 12;
const LINE: u32 = 24;
const SPACING: u32 = 6;
const MARGIN: u32 = 16;

/// Draws the receipt as it would come out of a 203-dpi printer on `paper`: text in fixed
/// font-A cells (CJK two columns) with magnification, bold and alignment, wrapped at the
/// paper's edge; QR codes as real, scannable modules of the printed size.
pub fn render(r: &Receipt, paper: Paper) -> Result<GrayImage, RenderError> {
    let font = system_font()?;
    let width = paper.dots();
    // Lay out first (rows of glyph cells, QR images), then draw.
    enum Item {
        Row { cells: Vec<(char, u32)>, style: Line, x0: u32 },
        Image(GrayImage, u32),
    }
    let mut items: Vec<(u32, Item)> = Vec::new();
    let mut y = MARGIN;
    for b in &r.blocks {
        match *b {
            Block::Line(i) => {
                let l = &r.lines[i];
                let w = u32::from(l.width);
                let row_h = LINE * u32::from(l.height) + SPACING;
                let mut rows: Vec<Vec<(char, u32)>> = vec![Vec::new()];
                let mut used = 0;
                for c in l.text.chars() {
                    let cw = if c.is_ascii() { CELL * w } else { 2 * CELL * w };
                    if used + cw > width && used > 0 {
                        rows.push(Vec::new());
                        used = 0;
                    }
                    rows.last_mut().expect("one row").push((c, cw));
                    used += cw;
                }
                for cells in rows {
                    let total: u32 = cells.iter().map(|c| c.1).sum();
                    let x0 = match l.align {
                        Align::Left => 0,
                        Align::Center => width.saturating_sub(total) / 2,
                        Align::Right => width.saturating_sub(total),
                    };
                    items.push((y, Item::Row { cells, style: l.clone(), x0 }));
                    y += row_h;
                }
            }
            Block::Qr { index, module, ec, align } => {
                let payload = &r.qr[index];
                let level = match ec {
                    'L' => qrcode::EcLevel::L,
                    'Q' => qrcode::EcLevel::Q,
                    'H' => qrcode::EcLevel::H,
                    _ => qrcode::EcLevel::M,
                };
                let code = qrcode::QrCode::with_error_correction_level(payload.as_bytes(), level)
                    .map_err(|e| RenderError::Qr { payload: payload.clone(), error: e.to_string() })?;
                let m = u32::from(module);
                let img = code.render::<Luma<u8>>().module_dimensions(m, m).quiet_zone(false).build();
                let x0 = match align {
                    Align::Left => 0,
                    Align::Center => width.saturating_sub(img.width()) / 2,
                    Align::Right => width.saturating_sub(img.width()),
                };
                let h = img.height();
                items.push((y, Item::Image(img, x0)));
                y += h + SPACING;
            }
        }
    }
    let height = y + MARGIN;
    let mut canvas = GrayImage::from_pixel(width, height, Luma([255]));
    for (y, item) in items {
        match item {
            Item::Image(img, x0) => image::imageops::overlay(&mut canvas, &img, i64::from(x0), i64::from(y)),
            Item::Row { cells, style, x0 } => {
                let mut x = x0;
                for (c, cw) in cells {
                    draw_char(&mut canvas, &font, c, x, y, cw, &style);
                    x += cw;
                }
            }
        }
    }
    if r.cut.is_some() {
        // The cut line, dashed: the last row of the image.
        for x in (0..width).filter(|x| x % 8 < 4) {
            canvas.put_pixel(x, height - 1, Luma([0]));
        }
    }
    Ok(canvas)
}

/// Draws `c` centred in a cell `cell_w` dots wide at (x, y), scaled for the line's height.
fn draw_char(canvas: &mut GrayImage, font: &FontArc, c: char, x: u32, y: u32, cell_w: u32, l: &Line) {
    let h = (LINE * u32::from(l.height)) as f32;
    // A full-width glyph fills two columns; scale x so a CJK glyph is as wide as its cell.
    let scale = PxScale { x: (2 * CELL * u32::from(l.width)) as f32, y: h };
    let scaled = font.as_scaled(scale);
    let id = font.glyph_id(c);
    let advance = scaled.h_advance(id);
    let gx = x as f32 + ((cell_w as f32 - advance) / 2.0).max(0.0);
    let baseline = y as f32 + scaled.ascent() * h / (scaled.ascent() - scaled.descent());
    let glyph = id.with_scale_and_position(scale, point(gx, baseline));
    let Some(outline) = font.outline_glyph(glyph) else { return };
    let bounds = outline.px_bounds();
    let strokes = if l.bold { 2 } else { 1 };
    outline.draw(|px, py, coverage| {
        for dx in 0..strokes {
            let cx = bounds.min.x as i64 + i64::from(px) + dx;
            let cy = bounds.min.y as i64 + i64::from(py);
            if cx < 0 || cy < 0 || cx >= i64::from(canvas.width()) || cy >= i64::from(canvas.height()) {
                continue;
            }
            let p = canvas.get_pixel_mut(cx as u32, cy as u32);
            let ink = (coverage.clamp(0.0, 1.0) * 255.0) as u8;
            p.0[0] = p.0[0].min(255 - ink);
        }
    });
}

/// Writes the receipt as a 384-dot-wide (58 mm) PNG. Errors name the font package to install
/// when no CJK font is found.
pub fn render_png(r: &Receipt, path: &Path) -> Result<(), RenderError> {
    render_png_on(r, path, Paper::Mm58)
}

/// Writes the receipt as a PNG as wide as `paper` in dots.
pub fn render_png_on(r: &Receipt, path: &Path, paper: Paper) -> Result<(), RenderError> {
    render(r, paper)?.save_with_format(path, image::ImageFormat::Png)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The pseudo-terminal printer.

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
struct Shared {
    paper_out: bool,
    paper_near_end: bool,
    cover_open: bool,
    silent: bool,
    receipts: Vec<Receipt>,
    lost: Vec<Receipt>,
    status_queries: u64,
}

impl Shared {
    fn status(&self) -> PrinterStatus {
        PrinterStatus {
            online: !self.paper_out && !self.cover_open,
            cover_open: self.cover_open,
            paper_near_end: self.paper_near_end,
            paper_out: self.paper_out,
        }
    }
}

/// A simulated serial receipt printer on a pseudo-terminal. Open [`PtyPrinter::path`] with the
/// real serial adapter as if it were /dev/ttyUSB0.
///
/// Behaviour: `DLE EOT 1`, `2`, `3` and `4` are answered at once, from the simulated status
/// (unless [`PtyPrinter::set_silent`]). While the paper is out or the cover is open the
/// printer still reads every byte but prints nothing: a receipt any of whose commands arrived
/// in that state is recorded in [`PtyPrinter::lost`] instead of [`PtyPrinter::receipts`] (a
/// real printer discards or truncates it), so a test can tell held tickets from lost ones.
/// With `out_dir`, each printed receipt is written as `NNNN-<number>.txt` (a transcript) and
/// `NNNN-<number>.png` (when a CJK font is installed; otherwise a warning is logged once).
/// Dropping it (or [`PtyPrinter::stop`]) ends its thread and closes the terminal.
pub struct PtyPrinter {
    path: PathBuf,
    shared: Arc<(Mutex<Shared>, Condvar)>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Held open so the terminal stays usable while the adapter closes and reopens it.
    _slave: TTYPort,
}

impl PtyPrinter {
    /// Creates the pseudo-terminal pair and starts the printer thread.
    pub fn start(out_dir: Option<PathBuf>) -> io::Result<PtyPrinter> {
        let (mut master, slave) = TTYPort::pair().map_err(io::Error::from)?;
        let path = slave
            .name()
            .map(PathBuf::from)
            .ok_or_else(|| io::Error::other("the pseudo-terminal has no device path"))?;
        SerialPort::set_timeout(&mut master, Duration::from_millis(50)).map_err(io::Error::from)?;
        if let Some(dir) = &out_dir {
            std::fs::create_dir_all(dir)?;
        }
        let shared = Arc::new((Mutex::new(Shared::default()), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::Builder::new()
                .name("printer-twin".into())
                .spawn(move || run_twin(master, &shared, &stop, out_dir.as_deref()))?
        };
        Ok(PtyPrinter { path, shared, stop, thread: Some(thread), _slave: slave })
    }

    /// The slave device path (e.g. /dev/pts/3), to open like a real serial port.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn update(&self, f: impl FnOnce(&mut Shared)) {
        let (m, cv) = &*self.shared;
        f(&mut lock(m));
        cv.notify_all();
    }

    /// Simulates the roll running out (or being replaced).
    pub fn set_paper_out(&self, out: bool) {
        self.update(|s| s.paper_out = out);
    }

    /// Simulates the near-end sensor.
    pub fn set_paper_near_end(&self, near: bool) {
        self.update(|s| s.paper_near_end = near);
    }

    /// Simulates the cover being opened or closed.
    pub fn set_cover_open(&self, open: bool) {
        self.update(|s| s.cover_open = open);
    }

    /// While silent, status queries get no answer (a printer switched off behind its adapter).
    pub fn set_silent(&self, silent: bool) {
        self.update(|s| s.silent = silent);
    }

    /// The status the printer reports now.
    pub fn status(&self) -> PrinterStatus {
        lock(&self.shared.0).status()
    }

    /// The receipts printed so far, in order.
    pub fn receipts(&self) -> Vec<Receipt> {
        lock(&self.shared.0).receipts.clone()
    }

    /// The receipts received while paper was out or the cover open, which did not print.
    pub fn lost(&self) -> Vec<Receipt> {
        lock(&self.shared.0).lost.clone()
    }

    /// How many status queries were answered or ignored so far.
    pub fn status_queries(&self) -> u64 {
        lock(&self.shared.0).status_queries
    }

    /// Waits until at least `n` receipts have printed or `timeout` passed; returns them all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Receipt> {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.shared;
        let mut s = lock(m);
        while s.receipts.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            s = cv.wait_timeout(s, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        s.receipts.clone()
    }

    /// Stops the printer thread and closes the terminal.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for PtyPrinter {
    fn drop(&mut self) {
        self.halt();
    }
}

fn run_twin(
    mut master: TTYPort,
    shared: &(Mutex<Shared>, Condvar),
    stop: &AtomicBool,
    out_dir: Option<&Path>,
) {
    let mut stream = Stream::default();
    let mut builder = Builder::default();
    let mut lost = false;
    let mut warned_font = false;
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let n = match master.read(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => {
                tracing::warn!(message = "Printer twin read failed.", error = %e);
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        for (cmd, offset) in stream.feed(&buf[..n]) {
            let (m, cv) = shared;
            if let Command::Status(q) = cmd {
                let (silent, status) = {
                    let mut s = lock(m);
                    s.status_queries += 1;
                    (s.silent, s.status())
                };
                if !silent {
                    let _ = master.write_all(&[status_byte(q, status)]);
                    let _ = master.flush();
                }
                continue;
            }
            {
                let s = lock(m);
                if s.paper_out || s.cover_open {
                    lost = true;
                }
            }
            let Some(receipt) = builder.apply(cmd, offset) else { continue };
            let mut s = lock(m);
            if std::mem::take(&mut lost) {
                tracing::warn!(
                    message = "Printer twin lost a receipt.",
                    number = receipt.big_text().unwrap_or("-")
                );
                s.lost.push(receipt);
            } else {
                let seq = s.receipts.len() + 1;
                if let Some(dir) = out_dir {
                    save(dir, seq, &receipt, &mut warned_font);
                }
                s.receipts.push(receipt);
            }
            cv.notify_all();
        }
    }
}

/// Writes `NNNN-<number>.txt` and, when a font is available, `NNNN-<number>.png`.
fn save(dir: &Path, seq: usize, r: &Receipt, warned_font: &mut bool) {
    let label: String = r
        .big_text()
        .unwrap_or("receipt")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .collect();
    let stem = dir.join(format!("{seq:04}-{label}"));
    if let Err(e) = std::fs::write(stem.with_extension("txt"), r.transcript()) {
        tracing::warn!(message = "Printer twin cannot write a receipt.", path = %stem.display(), error = %e);
    }
    match render_png(r, &stem.with_extension("png")) {
        Ok(()) => {}
        Err(e @ RenderError::NoFont { .. }) => {
            if !std::mem::replace(warned_font, true) {
                tracing::warn!(message = "Printer twin writes no PNG receipts.", error = %e);
            }
        }
        Err(e) => tracing::warn!(message = "Printer twin cannot draw a receipt.", error = %e),
    }
}

#[cfg(test)]
mod tests {
    use super::super::escpos::{self, tests::sample};
    use super::*;

    #[test]
    fn ticket_round_trip() {
        let t = sample();
        let receipts = parse(&escpos::ticket(&t));
        assert_eq!(receipts.len(), 1);
        let r = &receipts[0];
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        assert_eq!(r.cut, Some(Cut::Partial));
        assert_eq!(r.qr, std::slice::from_ref(&t.url));
        let text = r.text();
        for expected in [
            &t.hall,
            &t.hall_en,
            &t.service,
            &t.service_en,
            &t.issued_at,
            "前面还有 3 人 / 3 ahead",
            "预计等候约 15 分钟",
            "about 15 min",
            "请留意叫号，过号请重新取号",
            "Please listen for your number.",
        ] {
            assert!(text.lines().any(|l| l == expected), "{expected:?} not a line of:\n{text}");
        }
        let hall = r.lines.iter().find(|l| l.text == t.hall).unwrap();
        assert!(hall.bold && hall.height == 2 && hall.align == Align::Center);
        let number = r.lines.iter().find(|l| l.text == "A023").expect("number line");
        assert!(number.width >= 4 && number.height >= 4 && number.bold, "{number:?}");
        assert_eq!(r.big_text(), Some("A023"));
        // Modes are restored after the number.
        let service = r.lines.iter().find(|l| l.text == t.service_en).unwrap();
        assert_eq!((service.width, service.height, service.bold), (1, 1, false));
        // The QR comes after the time and before the footer.
        let pos = |b: Block| r.blocks.iter().position(|x| *x == b).unwrap();
        let qr = r.blocks.iter().position(|b| matches!(b, Block::Qr { .. })).unwrap();
        let time = pos(Block::Line(r.lines.iter().position(|l| l.text == t.issued_at).unwrap()));
        assert!(time < qr && qr < r.blocks.len() - 2);
        assert!(matches!(r.blocks[qr], Block::Qr { ec: 'M', module: 3..=8, align: Align::Center, .. }));
    }

    #[test]
    fn test_page_round_trip() {
        let r = parse(&escpos::test_page("东区大厅", "2026-11-26 09:00"));
        assert_eq!(r.len(), 1);
        assert!(r[0].unknown.is_empty(), "{:?}", r[0].unknown);
        assert_eq!(r[0].qr, [escpos::test_page_qr("2026-11-26 09:00")]);
        assert_eq!(r[0].cut, Some(Cut::Partial));
        let text = r[0].text();
        assert!(text.contains("打印测试") && text.contains("PRINTER TEST") && text.contains("东区大厅"));
    }

    #[test]
    fn receipts_split_at_cuts_and_stream_chunks_do_not_matter() {
        let mut bytes = escpos::ticket(&sample());
        bytes.extend_from_slice(&escpos::status_query(1));
        bytes.extend(escpos::ticket(&escpos::tests::sample_numbered("B007")));
        bytes.extend_from_slice(b"tail\n");
        let whole = parse(&bytes);
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[1].big_text(), Some("B007"));
        assert_eq!(whole[2].cut, None);
        assert_eq!(whole[2].text(), "tail");
        // Byte by byte through the stream decoder gives the same receipts.
        for chunk in [1, 2, 3, 7, 64] {
            let mut stream = Stream::default();
            let mut builder = Builder::default();
            let mut got = Vec::new();
            for piece in bytes.chunks(chunk) {
                for (cmd, offset) in stream.feed(piece) {
                    got.extend(builder.apply(cmd, offset));
                }
            }
            got.extend(builder.finish());
            assert_eq!(got, whole, "chunks of {chunk}");
        }
    }

    fn unknown_of(bytes: &[u8]) -> Vec<String> {
        parse(bytes).into_iter().flat_map(|r| r.unknown).collect()
    }

    #[test]
    fn unknown_and_malformed_input_is_flagged_not_guessed() {
        let check = |bytes: &[u8], expected: &str| {
            let u = unknown_of(bytes);
            assert!(u.iter().any(|s| s.contains(expected)), "{expected:?} not in {u:?}");
        };
        check(b"\x1b@\x1bt\x05ab\n", "unknown command ESC 't' (0x74) at byte 2");
        check(b"\x1b@\x1d\x56\x07", "GS V with unknown mode 7");
        check(b"\x1b@\x1d(k\x03\x001C", "truncated command at byte 2");
        check(b"\x1b@\x1d(k\x03\x00\x31\x52\x30", "unsupported GS ( k function cn=49 fn=82");
        check(b"\x1b@\x1d(k\x03\x00\x31\x51\x30", "QR print with no stored data");
        check(b"\x1b@\xc7\xeb\n", "text above 0x7F outside Chinese mode");
        check(b"\x1b@\x1c&\xc7\n", "malformed GB18030");
        check(b"ab\rcd\n", "unexpected control byte 0x0D");
        check(b"\x10\x05\x01", "unknown real-time command DLE 0x05");
        assert!(parse(&[]).is_empty());
        assert!(parse(&escpos::status_query(2)).is_empty());
        // Arbitrary bytes never panic.
        let junk: Vec<u8> = (0..2000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let _ = parse(&junk);
    }

    #[test]
    fn missing_font_error_names_the_package() {
        let Err(e) = load_font(&["/nonexistent/font.ttc"]) else { panic!("no font there") };
        assert!(e.to_string().contains("fonts-wqy-microhei"), "{e}");
    }

    #[test]
    fn render_png_draws_a_receipt_of_paper_width() {
        let r = parse(&escpos::ticket(&sample())).remove(0);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ticket.png");
        // Fails (does not skip) without a CJK font, naming the package to install.
        render_png(&r, &path).unwrap_or_else(|e| panic!("{e}"));
        let img = image::open(&path).unwrap().into_luma8();
        assert_eq!(img.width(), 384);
        assert!(img.height() > 400, "height {}", img.height());
        let wide = render(&r, Paper::Mm80).unwrap();
        assert_eq!(wide.width(), 576);
        // There is ink: text and the QR's dark modules.
        let dark = img.pixels().filter(|p| p.0[0] < 128).count();
        assert!(dark > 5000, "{dark} dark pixels");
        // The QR is drawn module for module: its finder pattern's top-left module is dark and
        // the QR area matches the qrcode crate's own rendering.
        let Block::Qr { module, .. } =
            r.blocks.iter().find(|b| matches!(b, Block::Qr { .. })).copied().unwrap()
        else {
            unreachable!()
        };
        let code = qrcode::QrCode::with_error_correction_level(&r.qr[0], qrcode::EcLevel::M).unwrap();
        let qr_img = code
            .render::<Luma<u8>>()
            .module_dimensions(module.into(), module.into())
            .quiet_zone(false)
            .build();
        let found = find(&img, &qr_img);
        assert!(found, "the QR symbol is not in the image");
        // To look at the pictures: ONESTOP_RECEIPT_DIR=/tmp/receipts cargo test ... render_png
        if let Some(dir) = std::env::var_os("ONESTOP_RECEIPT_DIR") {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir).unwrap();
            render_png(&r, &dir.join("ticket-58mm.png")).unwrap();
            render_png_on(&r, &dir.join("ticket-80mm.png"), Paper::Mm80).unwrap();
            let page = parse(&escpos::test_page("东区一站式服务大厅", "2026-11-26 09:00")).remove(0);
            render_png(&page, &dir.join("test-page-58mm.png")).unwrap();
        }
    }

    /// Whether `needle` appears pixel-exact in `hay` (centred horizontally).
    fn find(hay: &GrayImage, needle: &GrayImage) -> bool {
        let x0 = (hay.width() - needle.width()) / 2;
        (0..=hay.height() - needle.height())
            .any(|y0| needle.enumerate_pixels().all(|(x, y, p)| hay.get_pixel(x0 + x, y0 + y) == p))
    }
}
