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
//! mark; whitespace is space, tab, CR and LF only. The caller validates
//! UTF-8 once for the whole message, so string contents need no further
//! check. Skipping a value never recurses and stops at [`MAX_DEPTH`].

use std::borrow::Cow;

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

pub type Result<T> = std::result::Result<T, SyntaxError>;

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
    /// The bytes between the quotes, escapes not yet decoded.
    pub raw: &'a [u8],
    /// Whether `raw` holds a backslash escape.
    pub escaped: bool,
}

/// Reads one message's bytes.
pub struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
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
    pub fn error<T>(&self, message: impl Into<String>) -> Result<T> {
        Err(SyntaxError {
            at: self.pos,
            message: message.into(),
        })
    }

    fn found(&self) -> String {
        match self.bytes.get(self.pos) {
            None => "the end of the message".into(),
            Some(&b) if b.is_ascii_graphic() => format!("'{}'", b as char),
            Some(&b) => format!("byte 0x{b:02x}"),
        }
    }

    /// Skips whitespace.
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
    pub fn peek_kind(&mut self) -> Result<Kind> {
        self.skip_ws();
        Ok(match self.bytes.get(self.pos) {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b'-' | b'0'..=b'9') => Kind::Number,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'n') => Kind::Null,
            _ => return self.error(format!("expected a value, found {}", self.found())),
        })
    }

    fn expect(&mut self, byte: u8) -> Result<()> {
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&byte) {
            self.pos += 1;
            Ok(())
        } else {
            self.error(format!("expected '{}', found {}", byte as char, self.found()))
        }
    }

    /// Reads `{`; then call [`Self::next_key`] until it returns `None`.
    pub fn begin_object(&mut self) -> Result<()> {
        self.expect(b'{')
    }

    /// The next key of an object, with its `:` read; `None` after the
    /// closing `}`. `first` is true for the first call on an object.
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
                    return self.error(format!("expected a key after ',', found {}", self.found()));
                }
            }
            Some(b'"') if first => {}
            _ if first => return self.error(format!("expected a key or '}}', found {}", self.found())),
            _ => return self.error(format!("expected ',' or '}}', found {}", self.found())),
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
            _ => self.error(format!("expected ',' or ']', found {}", self.found())),
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
            let rest = self.bytes.get(self.pos..).unwrap_or_default();
            let Some(i) = rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20) else {
                self.pos = self.bytes.len();
                return self.error("a string without its closing quote");
            };
            self.pos += i;
            match rest[i] {
                b'"' => {
                    let raw = &self.bytes[start..self.pos];
                    self.pos += 1;
                    return Ok(RawString { raw, escaped });
                }
                b'\\' => {
                    escaped = true;
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
                return self.error(format!("expected a digit, found {}", self.found()));
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
        // the grammar admits ASCII only, so the text is valid UTF-8
        let text = std::str::from_utf8(&b[start..p]).unwrap_or_default();
        Ok(Number { text, integer })
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
            self.error(format!("expected true or false, found {}", self.found()))
        }
    }

    /// Reads `null`.
    pub fn null(&mut self) -> Result<()> {
        self.skip_ws();
        if self.bytes.get(self.pos..).unwrap_or_default().starts_with(b"null") {
            self.pos += 4;
            Ok(())
        } else {
            self.error(format!("expected null, found {}", self.found()))
        }
    }

    /// Reads and checks one value of any kind, without building it.
    /// `depth` is the nesting of the value's container; deeper than
    /// [`MAX_DEPTH`] is an error.
    pub fn skip_value(&mut self, depth: usize) -> Result<()> {
        // open containers: true for an object
        let mut open: Vec<bool> = Vec::new();
        // the keys seen so far by the open objects, back to back, innermost
        // last, as written unless escaped; `starts` holds where each open
        // object's keys begin
        let mut keys: Vec<Cow<'a, [u8]>> = Vec::new();
        let mut starts: Vec<usize> = Vec::new();
        loop {
            // a value is due: read it, or open a container; `first` says
            // whether the innermost container has yet to see an element
            let mut first: bool;
            match self.peek_kind()? {
                Kind::Object | Kind::Array => {
                    if depth + open.len() + 1 > MAX_DEPTH {
                        return self.error(format!("nested deeper than {MAX_DEPTH} levels"));
                    }
                    let object = self.peek_kind()? == Kind::Object;
                    self.pos += 1;
                    open.push(object);
                    if object {
                        starts.push(keys.len());
                    }
                    first = true;
                }
                Kind::String => {
                    let s = self.string()?;
                    if s.escaped {
                        check_escapes(s.raw).map_err(|message| SyntaxError { at: self.pos, message })?;
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
                let Some(&object) = open.last() else {
                    return Ok(());
                };
                let more = if object {
                    match self.next_key(first)? {
                        Some(key) => {
                            let name = if key.escaped {
                                let mut name = Vec::new();
                                unescape(key.raw, &mut name)
                                    .map_err(|message| SyntaxError { at: self.pos, message })?;
                                Cow::Owned(name)
                            } else {
                                Cow::Borrowed(key.raw)
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
                if open.pop() == Some(true)
                    && let Some(start) = starts.pop()
                {
                    keys.truncate(start);
                }
                first = false;
            }
        }
    }
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

    fn skip(text: &str) -> Result<()> {
        let mut c = Cursor::new(text.as_bytes());
        c.skip_value(0)?;
        if c.at_end() { Ok(()) } else { c.error("trailing text") }
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
        let mut c = Cursor::new(b" -12.50e3,");
        assert_eq!(
            c.number().unwrap(),
            Number {
                text: "-12.50e3",
                integer: false
            }
        );
        let mut c = Cursor::new(b"125]");
        assert!(c.number().unwrap().integer);
    }
}
