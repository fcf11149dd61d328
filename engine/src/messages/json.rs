//! A strict JSON reader over one message's bytes: the syntax half of the
//! decoder ([`super::columns`] is the typing half).
//!
//! [`Cursor`] reads tokens in place, without building a value: strings
//! (returned raw, unescaped on demand), numbers (checked against the JSON
//! grammar and returned as text), literals, and whole values skipped.
//!
//! What must stay true: it accepts exactly RFC 8259's JSON. No trailing or
//! missing commas, no `NaN` or `Infinity`, no leading zeros or bare `.5`,
//! no raw control characters in strings, no lone surrogates, no byte-order
//! mark; whitespace is space, tab, CR and LF only. The cursor reads a `&str`:
//! the caller validates UTF-8 once for the whole message, and every token
//! the cursor returns is a slice of it at ASCII delimiters, so no piece is
//! checked again. Skipping a value never recurses, never allocates for
//! containers, and stops at [`MAX_DEPTH`].

use std::borrow::Cow;

use smallvec::SmallVec;

/// The deepest nesting a message may have, counting its top-level object.
pub const MAX_DEPTH: usize = 64;

/// A position in one message, and what went wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Byte position in the message.
    pub at: usize,
    /// What was expected or found.
    pub message: String,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not valid JSON at byte {}: {}", self.at, self.message)
    }
}

/// Boxed, so that what the reader returns stays two words wide on the path
/// where nothing is wrong.
pub type Result<T> = std::result::Result<T, Box<SyntaxError>>;

/// The kind of the next value, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `{`
    Object,
    /// `[`
    Array,
    /// `"`
    String,
    /// `-` or a digit
    Number,
    /// `true` or `false`
    Bool,
    /// `null`
    Null,
}

impl Kind {
    /// The kind's name in messages: "an object", "a number"…
    pub fn name(self) -> &'static str {
        match self {
            Kind::Object => "an object",
            Kind::Array => "an array",
            Kind::String => "a string",
            Kind::Number => "a number",
            Kind::Bool => "a boolean",
            Kind::Null => "null",
        }
    }
}

/// A JSON string as it stands between its quotes.
#[derive(Debug, Clone, Copy)]
pub struct RawString<'a> {
    /// The text between the quotes, escapes not yet decoded.
    pub text: &'a str,
    /// Whether `text` holds a backslash escape.
    pub escaped: bool,
}

impl<'a> RawString<'a> {
    /// The text between the quotes as bytes, escapes not yet decoded.
    pub fn raw(&self) -> &'a [u8] {
        self.text.as_bytes()
    }
}

/// Reads one message's text.
pub struct Cursor<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    /// The byte position.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Moves back to `pos`, a position this cursor has been at.
    pub fn rewind(&mut self, pos: usize) {
        self.pos = pos;
    }

    /// An error at the current position.
    #[cold]
    pub fn error<T>(&self, message: impl Into<String>) -> Result<T> {
        Err(Box::new(SyntaxError {
            at: self.pos,
            message: message.into(),
        }))
    }

    /// An error saying what was expected and what is there instead. Cold
    /// and out of line, so that the readers below stay small enough to be
    /// inlined where they are called.
    #[cold]
    #[inline(never)]
    fn expected<T>(&self, what: impl std::fmt::Display) -> Result<T> {
        self.error(format!("expected {what}, found {}", self.found()))
    }

    fn found(&self) -> String {
        match self.bytes.get(self.pos) {
            None => "the end of the message".into(),
            Some(&b) if b.is_ascii_graphic() => format!("'{}'", b as char),
            Some(&b) => format!("byte 0x{b:02x}"),
        }
    }

    /// Skips whitespace.
    #[inline]
    pub fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// True when only whitespace is left.
    pub fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos == self.bytes.len()
    }

    /// The kind of the next value (after whitespace), without reading it.
    #[inline]
    pub fn peek_kind(&mut self) -> Result<Kind> {
        self.skip_ws();
        Ok(match self.bytes.get(self.pos) {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b'-' | b'0'..=b'9') => Kind::Number,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'n') => Kind::Null,
            _ => return self.expected("a value"),
        })
    }

    #[inline]
    fn expect(&mut self, byte: u8) -> Result<()> {
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&byte) {
            self.pos += 1;
            Ok(())
        } else {
            self.expected(format_args!("'{}'", byte as char))
        }
    }

    /// Reads `{`; then call [`Self::next_key`] until it returns `None`.
    pub fn begin_object(&mut self) -> Result<()> {
        self.expect(b'{')
    }

    /// The next key of an object, with its `:` read; `None` after the
    /// closing `}`. `first` is true for the first call on an object.
    #[inline]
    pub fn next_key(&mut self, first: bool) -> Result<Option<RawString<'a>>> {
        self.skip_ws();
        match self.bytes.get(self.pos) {
            Some(b'}') => {
                self.pos += 1;
                return Ok(None);
            }
            Some(b',') if !first => {
                self.pos += 1;
                self.skip_ws();
                if self.bytes.get(self.pos) != Some(&b'"') {
                    return self.expected("a key after ','");
                }
            }
            Some(b'"') if first => {}
            _ if first => return self.expected("a key or '}'"),
            _ => return self.expected("',' or '}'"),
        }
        let key = self.string()?;
        self.expect(b':')?;
        Ok(Some(key))
    }

    /// Reads `[`; then call [`Self::next_element`] before each element.
    pub fn begin_array(&mut self) -> Result<()> {
        self.expect(b'[')
    }

    /// True when another element follows (its `,` read); false after the
    /// closing `]`. `first` is true for the first call on an array.
    #[inline]
    pub fn next_element(&mut self, first: bool) -> Result<bool> {
        self.skip_ws();
        match self.bytes.get(self.pos) {
            Some(b']') => {
                self.pos += 1;
                Ok(false)
            }
            Some(b',') if !first => {
                self.pos += 1;
                self.skip_ws();
                if self.bytes.get(self.pos) == Some(&b']') {
                    return self.error("expected a value after ',', found ']'");
                }
                Ok(true)
            }
            Some(_) if first => Ok(true),
            _ => self.expected("',' or ']'"),
        }
    }

    /// Reads a string; its contents are checked for raw control characters
    /// and for escapes that start right, and left undecoded.
    pub fn string(&mut self) -> Result<RawString<'a>> {
        self.expect(b'"')?;
        let start = self.pos;
        let mut escaped = false;
        loop {
            // the next byte that is not plain text
            let Some(i) = find_special(self.bytes.get(self.pos..).unwrap_or_default()) else {
                self.pos = self.bytes.len();
                return self.error("a string without its closing quote");
            };
            self.pos += i;
            match self.bytes[self.pos] {
                b'"' => {
                    // quotes are ASCII, so both ends are character boundaries
                    let text = &self.text[start..self.pos];
                    self.pos += 1;
                    return Ok(RawString { text, escaped });
                }
                b'\\' => {
                    escaped = true;
                    // past the backslash and the byte after it (an escape
                    // is checked when decoded); the end of the string is
                    // at a quote whatever this skips
                    self.pos += 2;
                }
                b => return self.error(format!("a raw control character 0x{b:02x} in a string")),
            }
        }
    }

    /// Reads a number and returns its text, which follows JSON's grammar:
    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    pub fn number(&mut self) -> Result<Number<'a>> {
        self.skip_ws();
        let b = self.bytes;
        let start = self.pos;
        let mut p = start;
        let digits = |p: &mut usize| {
            let s = *p;
            while b.get(*p).is_some_and(u8::is_ascii_digit) {
                *p += 1;
            }
            *p - s
        };
        if b.get(p) == Some(&b'-') {
            p += 1;
        }
        match b.get(p) {
            Some(b'0') => {
                p += 1;
                if b.get(p).is_some_and(u8::is_ascii_digit) {
                    self.pos = p;
                    return self.error("a number with a leading zero");
                }
            }
            Some(b'1'..=b'9') => {
                digits(&mut p);
            }
            _ => {
                self.pos = p;
                return self.expected("a digit");
            }
        }
        let mut integer = true;
        if b.get(p) == Some(&b'.') {
            p += 1;
            integer = false;
            if digits(&mut p) == 0 {
                self.pos = p;
                return self.error("expected a digit after the decimal point");
            }
        }
        if let Some(b'e' | b'E') = b.get(p) {
            p += 1;
            integer = false;
            if let Some(b'+' | b'-') = b.get(p) {
                p += 1;
            }
            if digits(&mut p) == 0 {
                self.pos = p;
                return self.error("expected a digit in the exponent");
            }
        }
        self.pos = p;
        // the grammar admits ASCII only: both ends are character boundaries
        Ok(Number {
            text: &self.text[start..p],
            integer,
        })
    }

    /// Reads `true` or `false`.
    pub fn boolean(&mut self) -> Result<bool> {
        self.skip_ws();
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        if rest.starts_with(b"true") {
            self.pos += 4;
            Ok(true)
        } else if rest.starts_with(b"false") {
            self.pos += 5;
            Ok(false)
        } else {
            self.expected("true or false")
        }
    }

    /// Reads `null`.
    pub fn null(&mut self) -> Result<()> {
        self.skip_ws();
        if self.bytes.get(self.pos..).unwrap_or_default().starts_with(b"null") {
            self.pos += 4;
            Ok(())
        } else {
            self.expected("null")
        }
    }

    /// Reads and checks one value of any kind, without building it.
    /// `depth` is the nesting of the value's container; deeper than
    /// [`MAX_DEPTH`] is an error.
    pub fn skip_value(&mut self, depth: usize) -> Result<()> {
        // the open containers, outermost first: `levels` of them, and bit i
        // of `objects` set when the i-th is an object (MAX_DEPTH fits a u64)
        const _: () = assert!(MAX_DEPTH <= 64);
        let mut objects = 0u64;
        let mut levels = 0usize;
        // the keys seen so far by the open objects, back to back, innermost
        // last, as written unless escaped; `starts` holds where each open
        // object's keys begin (inline: no allocation for a small value)
        let mut keys: SmallVec<[Cow<'a, [u8]>; 16]> = SmallVec::new();
        let mut starts: SmallVec<[usize; 8]> = SmallVec::new();
        loop {
            // a value is due: read it, or open a container; `first` says
            // whether the innermost container has yet to see an element
            let mut first: bool;
            match self.peek_kind()? {
                kind @ (Kind::Object | Kind::Array) => {
                    if depth + levels + 1 > MAX_DEPTH {
                        return self.error(format!("nested deeper than {MAX_DEPTH} levels"));
                    }
                    self.pos += 1;
                    if kind == Kind::Object {
                        objects |= 1 << levels;
                        starts.push(keys.len());
                    } else {
                        objects &= !(1 << levels);
                    }
                    levels += 1;
                    first = true;
                }
                Kind::String => {
                    let s = self.string()?;
                    if s.escaped {
                        check_escapes(s.raw()).map_err(|message| Box::new(SyntaxError { at: self.pos, message }))?;
                    }
                    first = false;
                }
                Kind::Number => {
                    self.number()?;
                    first = false;
                }
                Kind::Bool => {
                    self.boolean()?;
                    first = false;
                }
                Kind::Null => {
                    self.null()?;
                    first = false;
                }
            }
            // close what ends here, and find where the next value is due
            loop {
                if levels == 0 {
                    return Ok(());
                }
                let object = objects & 1 << (levels - 1) != 0;
                let more = if object {
                    match self.next_key(first)? {
                        Some(key) => {
                            let name = if key.escaped {
                                let mut name = Vec::new();
                                unescape(key.raw(), &mut name)
                                    .map_err(|message| Box::new(SyntaxError { at: self.pos, message }))?;
                                Cow::Owned(name)
                            } else {
                                Cow::Borrowed(key.raw())
                            };
                            let start = starts.last().copied().unwrap_or(keys.len());
                            if keys[start..].contains(&name) {
                                return self
                                    .error(format!("the key '{}' appears twice", String::from_utf8_lossy(&name)));
                            }
                            keys.push(name);
                            true
                        }
                        None => false,
                    }
                } else {
                    self.next_element(first)?
                };
                if more {
                    break;
                }
                levels -= 1;
                if object && let Some(start) = starts.pop() {
                    keys.truncate(start);
                }
                first = false;
            }
        }
    }
}

/// The index of the first byte of `bytes` that ends a string's plain text:
/// a quote, a backslash or a control character (below 0x20).
///
/// Eight bytes at a time: for each byte of a word, "is zero" is computed
/// with the borrow of `x - 0x01` into the high bit, masked by `!x` so bytes
/// of 0x80 and above never match. A borrow can only flag bytes above a
/// byte that truly matches, so the lowest flag is always exact.
fn find_special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let is_zero = |x: u64| x.wrapping_sub(ONES) & !x;
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in words.by_ref() {
        let x = u64::from_le_bytes(word.try_into().expect("a chunk of 8 bytes"));
        let quote = is_zero(x ^ (ONES * u64::from(b'"')));
        let backslash = is_zero(x ^ (ONES * u64::from(b'\\')));
        // below 0x20: subtracting 0x20 borrows into the high bit
        let control = x.wrapping_sub(ONES * 0x20) & !x;
        let found = (quote | backslash | control) & HIGHS;
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|i| at + i)
}

/// A number's text, checked against JSON's grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Number<'a> {
    /// The text as written.
    pub text: &'a str,
    /// True when it has no fraction and no exponent.
    pub integer: bool,
}

/// Appends the decoded contents of a raw string to `out`.
pub fn unescape(raw: &[u8], out: &mut Vec<u8>) -> std::result::Result<(), String> {
    let mut i = 0;
    while i < raw.len() {
        let Some(rel) = raw[i..].iter().position(|&b| b == b'\\') else {
            out.extend_from_slice(&raw[i..]);
            return Ok(());
        };
        out.extend_from_slice(&raw[i..i + rel]);
        i += rel;
        let esc = raw.get(i + 1).copied();
        i += 2;
        let c = match esc {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let hi = hex4(raw, i)?;
                i += 4;
                let code = match hi {
                    0xD800..=0xDBFF => {
                        if raw.get(i) != Some(&b'\\') || raw.get(i + 1) != Some(&b'u') {
                            return Err(format!("a lone surrogate \\u{hi:04x} in a string"));
                        }
                        let lo = hex4(raw, i + 2)?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return Err(format!("a lone surrogate \\u{hi:04x} in a string"));
                        }
                        i += 6;
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(format!("a lone surrogate \\u{hi:04x} in a string")),
                    c => c,
                };
                char::from_u32(code).ok_or_else(|| format!("an escape \\u{code:x} that is no character"))?
            }
            Some(other) => return Err(format!("an unknown escape '\\{}' in a string", other as char)),
            None => return Err("a backslash at the end of a string".into()),
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    Ok(())
}

/// Checks the escapes of a raw string without keeping the result.
fn check_escapes(raw: &[u8]) -> std::result::Result<(), String> {
    let mut scratch = Vec::new();
    unescape(raw, &mut scratch)
}

fn hex4(raw: &[u8], at: usize) -> std::result::Result<u32, String> {
    let digits = raw
        .get(at..at + 4)
        .ok_or_else(|| "a \\u escape with fewer than 4 hex digits".to_string())?;
    digits.iter().try_fold(0u32, |acc, &d| {
        let v = (d as char)
            .to_digit(16)
            .ok_or_else(|| "a \\u escape with fewer than 4 hex digits".to_string())?;
        Ok(acc * 16 + v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    fn skip(text: &str) -> Result<()> {
        let mut c = Cursor::new(text);
        c.skip_value(0)?;
        if c.at_end() { Ok(()) } else { c.error("trailing text") }
    }

    #[test]
    fn the_word_scan_finds_what_a_byte_scan_finds() {
        // every byte value at every position of strings of 0 to 24 bytes,
        // over a background of plain text and of bytes above 0x7f
        for background in [b'a', 0x80, 0xff, 0x21, 0x5d] {
            for len in 0..25 {
                for at in 0..len {
                    for byte in 0..=255u8 {
                        let mut bytes = vec![background; len];
                        bytes[at] = byte;
                        let naive = bytes.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
                        assert_eq!(find_special(&bytes), naive, "{bytes:?}");
                    }
                }
            }
        }
        // two specials: the first one counts
        let mut bytes = vec![b'x'; 20];
        bytes[13] = 0x1f;
        bytes[9] = 0x00;
        assert_eq!(find_special(&bytes), Some(9));
    }

    #[test]
    fn strings_and_objects_are_accepted_exactly_when_serde_json_accepts_them() {
        // texts built from the bytes the string scan and the escapes care
        // about, around the scan's 8-byte words, read as a string and as an
        // object whose keys are such strings
        let pieces = [
            "a", "bcdefgh", "\\", "\"", "\\\"", "\\\\", "\\u", "00e9", "d83d", "\\ude00", "\\n", "\\x", "\u{1}",
            "\u{1f}", "\t", "é", "😀", "\u{7f}", ":", ",", "}", "{",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut next = |n: u64| rng.below(n);
        for _ in 0..20_000 {
            let inner: String = (0..next(12))
                .map(|_| pieces[next(pieces.len() as u64) as usize])
                .collect();
            let other: String = (0..next(4))
                .map(|_| pieces[next(pieces.len() as u64) as usize])
                .collect();
            for text in [
                format!("\"{inner}\""),
                // keys that differ in their first character: serde_json
                // takes a repeated key, strict JSON does not
                format!("{{\"a{inner}\":1,\"b{other}\":[\"{other}\"]}}"),
                format!("[{{\"k\":\"{inner}\"}}, \"{other}\"]"),
            ] {
                let serde = serde_json::from_str::<serde_json::Value>(&text).is_ok();
                assert_eq!(skip(&text).is_ok(), serde, "{text:?}: {:?}", skip(&text));
            }
        }
    }

    #[test]
    fn strict_json_is_read_and_everything_else_refused() {
        for good in [
            r#"{}"#,
            r#"{"a":[1,2,{"b":null}],"c":"x\"y\u00e9\ud83d\ude00","d":-0.5e+10,"e":true}"#,
            " \t\r\n[ ] ",
            "0",
            "-0",
            "1E5",
        ] {
            assert_eq!(skip(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            (r#"{"a":1,}"#, "expected a key after ','"),
            (r#"{,"a":1}"#, "expected a key or '}'"),
            (r#"{"a":1 "b":2}"#, "expected ',' or '}'"),
            ("[1,,2]", "expected a value"),
            ("[1,]", "expected a value after ','"),
            ("[1 2]", "expected ',' or ']'"),
            ("NaN", "expected a value"),
            ("-Infinity", "expected a digit"),
            ("01", "leading zero"),
            (".5", "expected a value"),
            ("1.", "after the decimal point"),
            ("1e", "exponent"),
            ("\"a\u{1}b\"", "control character"),
            (r#""\x""#, "unknown escape"),
            (r#""\ud800""#, "lone surrogate"),
            (r#""\udc00x""#, "lone surrogate"),
            (r#""\u12""#, "4 hex digits"),
            ("\u{feff}{}", "expected a value"),
            ("{\"a\":1", "expected ',' or '}'"),
            ("\"abc", "closing quote"),
            ("tru", "true or false"),
            ("nul", "expected null"),
            (r#"{"a":{"b":1,"b":2}}"#, "'b' appears twice"),
            (r#"[{"b":1,"c":{"b":2}},{"b":3,"b":4}]"#, "'b' appears twice"),
        ] {
            let err = skip(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn deep_nesting_stops_at_the_limit_without_recursion() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let err = skip(&deep).unwrap_err().to_string();
        assert!(err.contains("nested deeper than 64"), "{err}");
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(skip(&ok), Ok(()));
    }

    #[test]
    fn escapes_decode_to_utf8() {
        let mut out = Vec::new();
        unescape(br#"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"#, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a\"\\/\u{8}\u{c}\n\r\té😀");
    }

    #[test]
    fn numbers_keep_their_text() {
        let mut c = Cursor::new(" -12.50e3,");
        assert_eq!(
            c.number().unwrap(),
            Number {
                text: "-12.50e3",
                integer: false
            }
        );
        let mut c = Cursor::new("125]");
        assert!(c.number().unwrap().integer);
    }
}
