//! Splitting a JSON-lines file into byte ranges that start at line starts,
//! so that ranges can be read in parallel without reading the file first.
//!
//! What must stay true: the ranges are contiguous, cover the whole file, do
//! not overlap, and each starts at the start of a line (byte 0 or the byte
//! after a `\n`), so every line is read by exactly one range: the one that
//! holds its first byte.

use std::fmt;
use std::io::{Read, Seek, SeekFrom};

/// Bytes `start..end` of a file; `start` is the start of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "distributed", derive(serde::Serialize, serde::Deserialize))]
pub struct ByteRange {
    /// The first byte, the start of a line.
    pub start: u64,
    /// One past the last byte whose line this range reads.
    pub end: u64,
}

impl ByteRange {
    /// The number of bytes in the range.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the range holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

impl fmt::Display for ByteRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// Splits a file of `len` bytes into at most `parts` ranges of about equal
/// size, each starting at a line start. `file` is read only around the
/// split points.
pub fn split_at_lines<F: Read + Seek>(
    file: &mut F,
    len: u64,
    parts: usize,
    min_bytes: u64,
) -> std::io::Result<Vec<ByteRange>> {
    let parts = (parts.max(1) as u64).min(len / min_bytes.max(1)).max(1);
    let mut starts = vec![0u64];
    for k in 1..parts {
        let approx = len * k / parts;
        let start = next_line_start(file, approx, len)?;
        if start < len && start > *starts.last().unwrap_or(&0) {
            starts.push(start);
        }
    }
    let mut ranges = Vec::with_capacity(starts.len());
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(len);
        ranges.push(ByteRange { start, end });
    }
    Ok(ranges)
}

/// The first line start at or after `at`: `at` itself when the byte before
/// it is a newline, else the byte after the next newline (or `len`).
fn next_line_start<F: Read + Seek>(file: &mut F, at: u64, len: u64) -> std::io::Result<u64> {
    if at == 0 {
        return Ok(0);
    }
    let mut pos = at - 1;
    file.seek(SeekFrom::Start(pos))?;
    let mut buf = vec![0u8; 64 * 1024];
    while pos < len {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if let Some(i) = buf[..n].iter().position(|&b| b == b'\n') {
            return Ok(pos + i as u64 + 1);
        }
        pos += n as u64;
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn lines_of(text: &str, ranges: &[ByteRange]) -> Vec<Vec<String>> {
        ranges
            .iter()
            .map(|r| {
                text[r.start as usize..r.end as usize]
                    .lines()
                    .map(str::to_string)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn every_line_is_in_exactly_one_range() {
        let text: String = (0..1000)
            .map(|i| format!("{{\"n\":{}}}\n", "x".repeat(i % 37)))
            .collect();
        for parts in [1, 2, 3, 7, 64] {
            let ranges = split_at_lines(&mut Cursor::new(text.as_bytes()), text.len() as u64, parts, 1).unwrap();
            assert!(ranges.len() <= parts);
            assert_eq!(ranges[0].start, 0);
            assert_eq!(ranges.last().unwrap().end, text.len() as u64);
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
                assert_eq!(text.as_bytes()[pair[1].start as usize - 1], b'\n');
            }
            let all: Vec<String> = lines_of(&text, &ranges).into_iter().flatten().collect();
            assert_eq!(
                all,
                text.lines().map(str::to_string).collect::<Vec<_>>(),
                "{parts} parts"
            );
        }
    }

    #[test]
    fn a_long_line_or_a_small_file_gives_fewer_ranges() {
        let long = format!("{}\nshort\n", "y".repeat(200_000));
        let ranges = split_at_lines(&mut Cursor::new(long.as_bytes()), long.len() as u64, 4, 1).unwrap();
        assert_eq!(
            lines_of(&long, &ranges).concat(),
            vec!["y".repeat(200_000), "short".into()]
        );
        // a file without a final newline keeps its last line
        let text = "a\nb\nc";
        let ranges = split_at_lines(&mut Cursor::new(text.as_bytes()), 5, 3, 1).unwrap();
        assert_eq!(lines_of(text, &ranges).concat(), vec!["a", "b", "c"]);
        // below min_bytes a range is not worth a thread
        let ranges = split_at_lines(&mut Cursor::new(text.as_bytes()), 5, 3, 1024).unwrap();
        assert_eq!(ranges, vec![ByteRange { start: 0, end: 5 }]);
        // an empty file is one empty range
        let ranges = split_at_lines(&mut Cursor::new(&b""[..]), 0, 4, 1).unwrap();
        assert_eq!(ranges, vec![ByteRange { start: 0, end: 0 }]);
    }
}
