//! Manifest errors that point at a file, line and column.

use std::fmt;
use std::ops::Range;

/// A problem in `anneal.toml`, located in the file.
///
/// `Display` gives one line (`FILE:LINE:COL: message`); [`ManifestError::render`] gives the
/// compiler-style snippet with the offending text underlined and the hint.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestError {
    /// The manifest's path as the user gave it.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong, naming what was expected.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
    /// The source line, for rendering.
    pub source_line: String,
    /// How many characters to underline.
    pub width: usize,
}

impl ManifestError {
    /// An error at byte range `span` of `source`.
    pub fn at(
        file: &str,
        source: &str,
        span: Range<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        // Spans computed inside a TOML string (a layer's words) are offsets in the parsed
        // text, which escapes make differ from the source's: keep them on char boundaries.
        let start = source.floor_char_boundary(span.start);
        let end = source.floor_char_boundary(span.end.max(start));
        let (line_start, line_end) = line_around(source, start);
        let text = &source[line_start..line_end];
        Self {
            file: file.to_string(),
            line: source[..start].matches('\n').count() + 1,
            column: source[line_start..start].chars().count() + 1,
            message: message.into(),
            hint,
            source_line: text.trim_end_matches('\r').to_string(),
            width: source[start..end.min(line_end)].chars().count().max(1),
        }
    }

    /// The same error with a suggested fix.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The multi-line, compiler-style rendering:
    ///
    /// ```text
    /// error: unknown layer `maxpol`
    ///   --> anneal.toml:9:22
    ///    |
    ///  9 |   "conv 32 5x5", "relu", "maxpol 2",
    ///    |                           ^^^^^^
    ///    = hint: did you mean `maxpool`?
    /// ```
    pub fn render(&self) -> String {
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        let mut out = format!(
            "error: {}\n{pad}--> {}:{}:{}\n{pad} |\n{num} | {}\n{pad} | {}{}\n",
            self.message,
            self.file,
            self.line,
            self.column,
            self.source_line,
            " ".repeat(self.column - 1),
            "^".repeat(self.width),
        );
        if let Some(hint) = &self.hint {
            out.push_str(&format!("{pad} = hint: {hint}\n"));
        }
        out
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ManifestError {}

/// The start and end of the line of `source` holding byte `at`.
fn line_around(source: &str, at: usize) -> (usize, usize) {
    let start = source[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = source[at..].find('\n').map_or(source.len(), |i| at + i);
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_line_and_column() {
        let src = "a = 1\nlayers = [\"maxpol 2\"]\n";
        let start = src.find("maxpol").unwrap();
        let e = ManifestError::at(
            "m.toml",
            src,
            start..start + 6,
            "unknown layer `maxpol`",
            None,
        );
        assert_eq!((e.line, e.column, e.width), (2, 12, 6));
        assert_eq!(e.to_string(), "m.toml:2:12: unknown layer `maxpol`");
        assert!(
            e.render()
                .contains("2 | layers = [\"maxpol 2\"]\n  |            ^^^^^^\n")
        );
    }
}
