//! Object encodings. Every object is one immutable file under `objects/`, named by the BLAKE3
//! hash of its whole content, and starts with a 6-byte header:
//!
//! ```text
//! offset size  field
//! 0      4     magic  b"ANOB"
//! 4      1     kind   1 = pack, 2 = chunk, 3 = table, 4 = commit
//! 5      1     format version of that kind (1)
//! 6      ...   body
//! ```
//!
//! All integers are little-endian. Strings are UTF-8 with a length prefix.
//!
//! **pack** (payload blobs, stored once): `u32 n`, then `n` entries of
//! `[32] blob hash, u64 offset, u32 len` (offsets into the data area, ascending), then the
//! data area. A blob's hash is the BLAKE3 of its bytes alone.
//!
//! **chunk** (a run of example rows, sorted by id): `u32 n`, then `n` rows of
//! `u16 id_len, id, [32] payload, u16 label_len (0xFFFF = unlabeled), label, u8 split_len, split,
//! u32 meta_len, meta` where `meta` is a JSON object (empty when `meta_len` is 0).
//!
//! **table** (a whole dataset): `u64 rows, u32 chunks`, then per chunk `[32] hash, u32 rows`,
//! then `u32 packs` and the pack hashes `[32]` each.
//!
//! **commit**: JSON (see [`Commit`]).

use serde::{Deserialize, Serialize};

use crate::hash::ContentHash;

/// The object header magic.
pub const MAGIC: &[u8; 4] = b"ANOB";

/// What an object holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Payload blobs.
    Pack = 1,
    /// Example rows.
    Chunk = 2,
    /// The list of chunks of a dataset.
    Table = 3,
    /// A commit.
    Commit = 4,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Pack,
            2 => Kind::Chunk,
            3 => Kind::Table,
            4 => Kind::Commit,
            _ => return None,
        })
    }

    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pack => "pack",
            Kind::Chunk => "chunk",
            Kind::Table => "table",
            Kind::Commit => "commit",
        }
    }
}

/// A decoding failure: where and what.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("malformed {kind} object at byte {offset}: {message}")]
pub struct DecodeError {
    /// The kind being decoded.
    pub kind: &'static str,
    /// Byte offset in the object.
    pub offset: usize,
    /// What was wrong.
    pub message: String,
}

/// Wrap a body in the object header.
pub fn frame(kind: Kind, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 6);
    out.extend_from_slice(MAGIC);
    out.push(kind as u8);
    out.push(1);
    out.extend_from_slice(body);
    out
}

/// Check the header and return the body.
pub fn unframe(expected: Kind, bytes: &[u8]) -> Result<&[u8], DecodeError> {
    let err = |offset, message: String| DecodeError {
        kind: expected.name(),
        offset,
        message,
    };
    if bytes.len() < 6 || &bytes[..4] != MAGIC {
        return Err(err(0, "missing the `ANOB` header".into()));
    }
    match Kind::from_byte(bytes[4]) {
        Some(k) if k == expected => {}
        Some(k) => {
            return Err(err(
                4,
                format!(
                    "expected a {} object, found a {}",
                    expected.name(),
                    k.name()
                ),
            ));
        }
        None => return Err(err(4, format!("unknown object kind {}", bytes[4]))),
    }
    if bytes[5] != 1 {
        return Err(err(
            5,
            format!(
                "unsupported format version {} (this anneal reads 1)",
                bytes[5]
            ),
        ));
    }
    Ok(&bytes[6..])
}

/// One example, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Stable id, unique in the dataset.
    pub id: String,
    /// Hash of the payload blob.
    pub payload: ContentHash,
    /// Label, or `None` for the unlabeled pool.
    pub label: Option<String>,
    /// Split name (`train`, `test`, ...; empty for none).
    pub split: String,
    /// Metadata as a JSON object, or empty.
    pub meta: String,
}

/// Encode rows (already sorted by id) as a chunk body.
pub fn encode_chunk(rows: &[Row]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 64);
    out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
    for r in rows {
        out.extend_from_slice(&(r.id.len() as u16).to_le_bytes());
        out.extend_from_slice(r.id.as_bytes());
        out.extend_from_slice(&r.payload.0);
        match &r.label {
            Some(l) => {
                out.extend_from_slice(&(l.len() as u16).to_le_bytes());
                out.extend_from_slice(l.as_bytes());
            }
            None => out.extend_from_slice(&u16::MAX.to_le_bytes()),
        }
        out.push(r.split.len() as u8);
        out.extend_from_slice(r.split.as_bytes());
        out.extend_from_slice(&(r.meta.len() as u32).to_le_bytes());
        out.extend_from_slice(r.meta.as_bytes());
    }
    out
}

/// A bounds-checked little-endian reader.
struct Reader<'a> {
    kind: &'static str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(kind: &'static str, bytes: &'a [u8]) -> Self {
        Self {
            kind,
            bytes,
            pos: 0,
        }
    }

    fn err(&self, message: impl Into<String>) -> DecodeError {
        DecodeError {
            kind: self.kind,
            offset: self.pos + 6,
            message: message.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() - self.pos < n {
            return Err(self.err(format!(
                "needs {n} more bytes, {} left",
                self.bytes.len() - self.pos
            )));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn hash(&mut self) -> Result<ContentHash, DecodeError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32)?);
        Ok(ContentHash(a))
    }

    fn string(&mut self, len: usize) -> Result<String, DecodeError> {
        let at = self.pos;
        let b = self.take(len)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError {
            kind: self.kind,
            offset: at + 6,
            message: "invalid UTF-8".into(),
        })
    }

    /// A count of items of at least `min_size` bytes each, checked against what is left
    /// before anything is allocated.
    fn count(&mut self, min_size: usize) -> Result<usize, DecodeError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size) > self.bytes.len() - self.pos {
            return Err(self.err(format!("count {n} exceeds the object's size")));
        }
        Ok(n)
    }

    fn finish(&self) -> Result<(), DecodeError> {
        if self.pos != self.bytes.len() {
            return Err(self.err(format!("{} trailing bytes", self.bytes.len() - self.pos)));
        }
        Ok(())
    }
}

/// Decode a chunk body.
pub fn decode_chunk(body: &[u8]) -> Result<Vec<Row>, DecodeError> {
    let mut r = Reader::new("chunk", body);
    let n = r.count(2 + 32 + 2 + 1 + 4)?;
    let mut rows = Vec::with_capacity(n);
    for _ in 0..n {
        let len = r.u16()? as usize;
        let id = r.string(len)?;
        let payload = r.hash()?;
        let label = match r.u16()? {
            u16::MAX => None,
            len => Some(r.string(len as usize)?),
        };
        let len = r.u8()? as usize;
        let split = r.string(len)?;
        let len = r.u32()? as usize;
        let meta = r.string(len)?;
        if let Some(prev) = rows.last().map(|p: &Row| &p.id)
            && *prev >= id
        {
            return Err(r.err(format!("rows out of order: `{prev}` before `{id}`")));
        }
        rows.push(Row {
            id,
            payload,
            label,
            split,
            meta,
        });
    }
    r.finish()?;
    Ok(rows)
}

/// A dataset: its chunks and the packs holding its payloads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    /// Total rows.
    pub rows: u64,
    /// Chunks in id order, with their row counts.
    pub chunks: Vec<(ContentHash, u32)>,
    /// Packs holding every payload the rows name.
    pub packs: Vec<ContentHash>,
}

/// Encode a table body.
pub fn encode_table(t: &Table) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + t.chunks.len() * 36 + t.packs.len() * 32);
    out.extend_from_slice(&t.rows.to_le_bytes());
    out.extend_from_slice(&(t.chunks.len() as u32).to_le_bytes());
    for (h, n) in &t.chunks {
        out.extend_from_slice(&h.0);
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.extend_from_slice(&(t.packs.len() as u32).to_le_bytes());
    for h in &t.packs {
        out.extend_from_slice(&h.0);
    }
    out
}

/// Decode a table body.
pub fn decode_table(body: &[u8]) -> Result<Table, DecodeError> {
    let mut r = Reader::new("table", body);
    let rows = r.u64()?;
    let n = r.count(36)?;
    let mut chunks = Vec::with_capacity(n);
    for _ in 0..n {
        chunks.push((r.hash()?, r.u32()?));
    }
    let n = r.count(32)?;
    let mut packs = Vec::with_capacity(n);
    for _ in 0..n {
        packs.push(r.hash()?);
    }
    r.finish()?;
    let sum: u64 = chunks.iter().map(|(_, n)| u64::from(*n)).sum();
    if sum != rows {
        return Err(r.err(format!("chunks hold {sum} rows, the table says {rows}")));
    }
    Ok(Table {
        rows,
        chunks,
        packs,
    })
}

/// Encode blobs as a pack body; returns the body and each blob's hash.
pub fn encode_pack(blobs: &[&[u8]]) -> (Vec<u8>, Vec<ContentHash>) {
    let total: usize = blobs.iter().map(|b| b.len()).sum();
    let mut out = Vec::with_capacity(4 + blobs.len() * 44 + total);
    out.extend_from_slice(&(blobs.len() as u32).to_le_bytes());
    let mut offset = 0u64;
    let mut hashes = Vec::with_capacity(blobs.len());
    for b in blobs {
        let h = ContentHash::of(b);
        out.extend_from_slice(&h.0);
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        offset += b.len() as u64;
        hashes.push(h);
    }
    for b in blobs {
        out.extend_from_slice(b);
    }
    (out, hashes)
}

/// Decode a pack body into (blob hash, byte range within `body`) entries, checking every
/// offset and length, and every blob's hash.
pub fn decode_pack(body: &[u8]) -> Result<Vec<(ContentHash, std::ops::Range<usize>)>, DecodeError> {
    let mut r = Reader::new("pack", body);
    let n = r.count(44)?;
    let mut entries = Vec::with_capacity(n);
    let data_start = 4 + n * 44;
    let mut expected = 0u64;
    for _ in 0..n {
        let h = r.hash()?;
        let offset = r.u64()?;
        let len = u64::from(r.u32()?);
        if offset != expected {
            return Err(r.err(format!("blob offset {offset}, expected {expected}")));
        }
        expected = offset + len;
        entries.push((h, offset, len));
    }
    if data_start as u64 + expected != body.len() as u64 {
        return Err(r.err(format!(
            "blobs cover {expected} bytes, the data area has {}",
            body.len() - data_start
        )));
    }
    entries
        .into_iter()
        .map(|(h, offset, len)| {
            let range = data_start + offset as usize..data_start + (offset + len) as usize;
            if ContentHash::of(&body[range.clone()]) != h {
                return Err(DecodeError {
                    kind: "pack",
                    offset: range.start + 6,
                    message: format!("blob {} does not match its hash", h.short()),
                });
            }
            Ok((h, range))
        })
        .collect()
}

/// A commit: an immutable snapshot of the dataset plus history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// Encoding version (1).
    pub format: u32,
    /// The table object.
    pub table: ContentHashHex,
    /// Parent commits (none for the first).
    pub parents: Vec<ContentHashHex>,
    /// Who made it.
    pub author: String,
    /// Seconds since the Unix epoch.
    pub time: u64,
    /// What it did.
    pub message: String,
}

/// A content hash serialised as hex in JSON.
pub type ContentHashHex = String;

/// Content-defined chunk boundaries: a chunk ends after a row whose id hash has its low 10 bits
/// zero (about 1,024 rows per chunk), with at least 64 and at most 8,192 rows. Boundaries
/// depend only on ids, so a label edit rewrites exactly the chunk holding that row.
pub fn chunk_rows(rows: &[Row]) -> Vec<&[Row]> {
    const MIN: usize = 64;
    const MAX: usize = 8192;
    let mut out = Vec::new();
    let mut start = 0;
    for (i, row) in rows.iter().enumerate() {
        let len = i + 1 - start;
        let h = blake3::hash(row.id.as_bytes());
        let b = h.as_bytes();
        let cut = u16::from_le_bytes([b[0], b[1]]) & 0x3ff == 0;
        if (cut && len >= MIN) || len >= MAX {
            out.push(&rows[start..=i]);
            start = i + 1;
        }
    }
    if start < rows.len() {
        out.push(&rows[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: usize) -> Row {
        Row {
            id: format!("ex:{i:06}"),
            payload: ContentHash::of(&i.to_le_bytes()),
            label: (!i.is_multiple_of(3)).then(|| (i % 10).to_string()),
            split: if i.is_multiple_of(2) {
                "train".into()
            } else {
                String::new()
            },
            meta: if i.is_multiple_of(5) {
                r#"{"speaker":"jo"}"#.into()
            } else {
                String::new()
            },
        }
    }

    #[test]
    fn chunk_round_trip() {
        let rows: Vec<Row> = (0..500).map(row).collect();
        assert_eq!(decode_chunk(&encode_chunk(&rows)).unwrap(), rows);
    }

    #[test]
    fn truncated_chunk_is_an_error_not_a_panic() {
        let rows: Vec<Row> = (0..10).map(row).collect();
        let bytes = encode_chunk(&rows);
        for cut in 0..bytes.len() {
            assert!(decode_chunk(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = bytes.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_chunk(&huge).unwrap_err().message.contains("exceeds"));
    }

    #[test]
    fn pack_verifies_blobs() {
        let (body, hashes) = encode_pack(&[b"one", b"two!"]);
        let entries = decode_pack(&body).unwrap();
        assert_eq!(entries.iter().map(|e| e.0).collect::<Vec<_>>(), hashes);
        assert_eq!(&body[entries[1].1.clone()], b"two!");
        let mut bad = body.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(decode_pack(&bad).is_err());
    }

    #[test]
    fn chunking_is_stable_under_label_edits() {
        let rows: Vec<Row> = (0..20_000).map(row).collect();
        let a: Vec<usize> = chunk_rows(&rows).iter().map(|c| c.len()).collect();
        let mut edited = rows.clone();
        edited[7777].label = Some("edited".into());
        let b: Vec<usize> = chunk_rows(&edited).iter().map(|c| c.len()).collect();
        assert_eq!(a, b);
        assert!(a.len() > 5 && a.len() < 80, "{} chunks", a.len());
        let changed = chunk_rows(&rows)
            .iter()
            .zip(chunk_rows(&edited))
            .filter(|(x, y)| encode_chunk(x) != encode_chunk(y))
            .count();
        assert_eq!(changed, 1);
    }

    #[test]
    fn header_is_checked() {
        let framed = frame(Kind::Table, &encode_table(&Table::default()));
        assert!(unframe(Kind::Table, &framed).is_ok());
        assert!(
            unframe(Kind::Commit, &framed)
                .unwrap_err()
                .message
                .contains("expected a commit")
        );
        assert!(unframe(Kind::Table, b"nope").is_err());
    }
}
