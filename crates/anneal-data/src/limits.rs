//! What a stored row may hold: the sizes its encoding can carry (see [`crate::object`]) and
//! the characters ids, labels and splits may contain.
//!
//! Every write path checks rows here before writing anything: the encoders refuse a row that
//! does not fit ([`encodable`]), and the verbs that take new text from users (importers, label
//! and split edits) also refuse text that would print as something else ([`printable`]):
//! control characters (NUL, newline, tab, escape...) and the Unicode bidirectional controls
//! that reorder what a terminal shows.

use std::fmt;

use crate::row::Row;

/// Longest id, in bytes (a `u16` length).
pub const MAX_ID_BYTES: usize = u16::MAX as usize;
/// Longest label, in bytes (a `u16` length; `0xFFFF` marks an unlabeled row).
pub const MAX_LABEL_BYTES: usize = u16::MAX as usize - 1;
/// Longest split name, in bytes (a `u8` length).
pub const MAX_SPLIT_BYTES: usize = u8::MAX as usize;
/// Longest metadata JSON, in bytes (a `u32` length).
pub const MAX_META_BYTES: usize = u32::MAX as usize;
/// Largest payload, in bytes (a pack entry's `u32` length).
pub const MAX_PAYLOAD_BYTES: usize = u32::MAX as usize;

/// Which part of a row is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The example id.
    Id,
    /// The label.
    Label,
    /// The split name.
    Split,
    /// The metadata JSON.
    Meta,
    /// The payload (image, audio or features).
    Payload,
}

impl Field {
    /// The field's name, as users write it.
    pub fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Label => "label",
            Field::Split => "split",
            Field::Meta => "metadata",
            Field::Payload => "payload",
        }
    }

    /// The most bytes the row encoding holds for this field.
    pub fn max_bytes(self) -> usize {
        match self {
            Field::Id => MAX_ID_BYTES,
            Field::Label => MAX_LABEL_BYTES,
            Field::Split => MAX_SPLIT_BYTES,
            Field::Meta => MAX_META_BYTES,
            Field::Payload => MAX_PAYLOAD_BYTES,
        }
    }
}

/// What is wrong with the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Longer than the encoding holds.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// An empty id.
    Empty,
    /// A control or bidirectional-control character.
    Control {
        /// The character.
        ch: char,
        /// Its byte offset.
        at: usize,
    },
}

/// A row (or a value for one) that cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RowError {
    /// The example's id (as given).
    pub id: String,
    /// The field.
    pub field: Field,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "example `{}`: {} ", shown(&self.id), self.field.name())?;
        match &self.problem {
            Problem::TooLong { len } => write!(
                f,
                "is {len} bytes long; at most {} are stored",
                self.field.max_bytes()
            ),
            Problem::Empty => write!(f, "is empty"),
            Problem::Control { ch, at } => write!(
                f,
                "holds the control character U+{:04X} at byte {at}; ids, labels and splits must be printable text",
                u32::from(*ch)
            ),
        }
    }
}

/// `s` with control characters escaped and cut to 40 characters, safe to print.
pub fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(40).flat_map(char::escape_debug).collect();
    if s.chars().nth(40).is_some() {
        out.push_str("...");
    }
    out
}

/// Is `c` a character that changes how text around it prints?
pub fn is_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// Refuse `value` for `field` of example `id` if the encoding cannot hold it.
pub fn check_len(id: &str, field: Field, value: &str) -> Result<(), RowError> {
    if value.len() > field.max_bytes() {
        return Err(error(id, field, Problem::TooLong { len: value.len() }));
    }
    Ok(())
}

/// Refuse `value` for `field` of example `id` if it is too long, or holds a control character
/// (ids must also be non-empty).
pub fn check_text(id: &str, field: Field, value: &str) -> Result<(), RowError> {
    check_len(id, field, value)?;
    if field == Field::Id && value.is_empty() {
        return Err(error(id, field, Problem::Empty));
    }
    match value.char_indices().find(|(_, c)| is_control(*c)) {
        Some((at, ch)) => Err(error(id, field, Problem::Control { ch, at })),
        None => Ok(()),
    }
}

/// Refuse a payload of example `id` larger than a pack entry holds.
pub fn check_payload(id: &str, len: usize) -> Result<(), RowError> {
    if len > MAX_PAYLOAD_BYTES {
        return Err(error(id, Field::Payload, Problem::TooLong { len }));
    }
    Ok(())
}

/// Refuse a row the encoding cannot hold.
pub fn encodable(row: &Row) -> Result<(), RowError> {
    check_len(&row.id, Field::Id, &row.id)?;
    if let Some(label) = &row.label {
        check_len(&row.id, Field::Label, label)?;
    }
    check_len(&row.id, Field::Split, &row.split)?;
    check_len(&row.id, Field::Meta, row.meta.as_str())
}

/// Refuse a new row that does not fit or does not print as itself.
pub fn printable(row: &Row) -> Result<(), RowError> {
    check_text(&row.id, Field::Id, &row.id)?;
    if let Some(label) = &row.label {
        check_text(&row.id, Field::Label, label)?;
    }
    check_text(&row.id, Field::Split, &row.split)?;
    check_len(&row.id, Field::Meta, row.meta.as_str())
}

fn error(id: &str, field: Field, problem: Problem) -> RowError {
    RowError {
        id: id.to_string(),
        field,
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_controls_are_named() {
        let e = check_text("a", Field::Label, &"x".repeat(MAX_LABEL_BYTES + 1)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "example `a`: label is 65535 bytes long; at most 65534 are stored"
        );
        assert!(check_text("a", Field::Label, &"x".repeat(MAX_LABEL_BYTES)).is_ok());
        let e = check_text("a\tb", Field::Id, "a\tb").unwrap_err();
        assert_eq!(
            e.to_string(),
            "example `a\\tb`: id holds the control character U+0009 at byte 1; ids, labels and splits must be printable text"
        );
        assert!(check_text("x", Field::Label, "\u{202E}gpj.exe").is_err());
        assert!(check_text("x", Field::Id, "").is_err());
        assert!(check_text("x", Field::Label, "chat noir 🐈").is_ok());
    }
}
