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
//! **table** (a whole dataset), one of two variants after a `u8` tag:
//!
//! - `0` full: `u64 rows, u32 chunks`, then per chunk `[32] hash, u32 rows, u16 len, first id`
//!   (so a lookup by id decodes one chunk), then `u32 packs` and the pack hashes `[32]` each.
//! - `1` patch (a small edit of another table): `[32] base table, u32 depth, u64 rows, u32 packs`
//!   and the pack hashes, then `u32 n` edits of `u8 op` (0 add, 1 change, 2 remove), then the
//!   row before (change, remove) and the row after (add, change), rows encoded as in chunks.
//!   Keeping the before-rows makes `diff` and `show` of an edit commit read one object. A chain
//!   of patches is compacted into a full table past [`MAX_PATCH_DEPTH`].
//!
//! **commit**: JSON (see [`Commit`]).

use serde::{Deserialize, Serialize};

use crate::codec::{ROW_MIN, Reader, encode_row};
use crate::hash::{CommitId, ContentHash, ObjectId};
use crate::limits::RowError;

pub use crate::codec::DecodeError;
pub use crate::pack::{decode_pack, encode_pack};
pub use crate::row::{ExampleId, Row};

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

/// Encode rows (already sorted by id) as a chunk body; refuses a row the encoding cannot
/// hold (see [`crate::limits`]) instead of writing a length that wraps.
pub fn encode_chunk(rows: &[Row]) -> Result<Vec<u8>, RowError> {
    let mut out = Vec::with_capacity(rows.len() * 64);
    out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
    for r in rows {
        encode_row(r, &mut out)?;
    }
    Ok(out)
}

/// Decode a chunk body.
pub fn decode_chunk(body: &[u8]) -> Result<Vec<Row>, DecodeError> {
    let mut r = Reader::new("chunk", body);
    let n = r.count(ROW_MIN)?;
    let mut rows = Vec::with_capacity(n);
    for _ in 0..n {
        let row = r.row()?;
        if let Some(prev) = rows.last().map(|p: &Row| &p.id)
            && *prev >= row.id
        {
            return Err(r.err(format!("rows out of order: `{prev}` before `{}`", row.id)));
        }
        rows.push(row);
    }
    r.finish()?;
    Ok(rows)
}

/// Patches chained on one full table before a commit compacts them.
pub const MAX_PATCH_DEPTH: u32 = 32;

/// The rows of a chunk body whose ids are in `ids` (sorted), without decoding the others:
/// each row is skipped by its length fields, so a lookup of a few ids is cheap.
pub fn find_rows(body: &[u8], ids: &[&str]) -> Result<Vec<Row>, DecodeError> {
    let mut r = Reader::new("chunk", body);
    let n = r.count(ROW_MIN)?;
    let mut out = Vec::new();
    let mut want = ids.iter().peekable();
    for _ in 0..n {
        let start = r.pos;
        let len = r.u16()? as usize;
        let id = r.take(len)?;
        while want.peek().is_some_and(|w| w.as_bytes() < id) {
            want.next();
        }
        let Some(next) = want.peek() else { break };
        if id == next.as_bytes() {
            r.pos = start;
            out.push(r.row()?);
            want.next();
            continue;
        }
        r.take(32)?;
        match r.u16()? {
            u16::MAX => {}
            l => {
                r.take(l as usize)?;
            }
        }
        let l = r.u8()? as usize;
        r.take(l)?;
        let l = r.u32()? as usize;
        r.take(l)?;
    }
    Ok(out)
}

/// A dataset as stored: a full table, or a patch of another table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Table {
    /// Every row, in chunks.
    Full(FullTable),
    /// A few rows changed from a base table.
    Patch(PatchTable),
}

/// A whole dataset: its chunks and the packs holding its payloads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FullTable {
    /// Total rows.
    pub rows: u64,
    /// Chunks in id order: hash, row count and first id.
    pub chunks: Vec<ChunkRef>,
    /// Packs holding every payload the rows name.
    pub packs: Vec<ContentHash>,
}

/// A chunk of a full table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkRef {
    /// The chunk object.
    pub hash: ContentHash,
    /// Rows in it.
    pub rows: u32,
    /// Its first (smallest) id.
    pub first: ExampleId,
}

/// An edit of a base table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchTable {
    /// The table this edits.
    pub base: ObjectId,
    /// Patches between this and the nearest full table (1 for a patch of a full table).
    pub depth: u32,
    /// Rows after the edit.
    pub rows: u64,
    /// Packs holding every payload the rows name.
    pub packs: Vec<ContentHash>,
    /// The edits, sorted by id.
    pub edits: Vec<Edit>,
}

/// One row's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// A new row.
    Add(Row),
    /// A row replaced: before, after (same id).
    Change(Row, Row),
    /// A row removed.
    Remove(Row),
}

impl Edit {
    /// The row's id.
    pub fn id(&self) -> &str {
        match self {
            Edit::Add(r) | Edit::Change(_, r) | Edit::Remove(r) => &r.id,
        }
    }
}

impl Table {
    /// Rows in the dataset.
    pub fn rows(&self) -> u64 {
        match self {
            Table::Full(t) => t.rows,
            Table::Patch(p) => p.rows,
        }
    }

    /// Packs holding its payloads.
    pub fn packs(&self) -> &[ContentHash] {
        match self {
            Table::Full(t) => &t.packs,
            Table::Patch(p) => &p.packs,
        }
    }
}

fn encode_packs(packs: &[ContentHash], out: &mut Vec<u8>) {
    out.extend_from_slice(&(packs.len() as u32).to_le_bytes());
    for h in packs {
        out.extend_from_slice(&h.0);
    }
}

/// Encode a table body; refuses rows the encoding cannot hold.
pub fn encode_table(t: &Table) -> Result<Vec<u8>, RowError> {
    let mut out = Vec::new();
    match t {
        Table::Full(t) => {
            out.push(0);
            encode_full(t, &mut out)?;
        }
        Table::Patch(p) => {
            out.push(1);
            encode_patch(p, &mut out)?;
        }
    }
    Ok(out)
}

fn encode_full(t: &FullTable, out: &mut Vec<u8>) -> Result<(), RowError> {
    out.extend_from_slice(&t.rows.to_le_bytes());
    out.extend_from_slice(&(t.chunks.len() as u32).to_le_bytes());
    for c in &t.chunks {
        out.extend_from_slice(&c.hash.0);
        out.extend_from_slice(&c.rows.to_le_bytes());
        crate::limits::check_len(&c.first, crate::limits::Field::Id, &c.first)?;
        out.extend_from_slice(&(c.first.len() as u16).to_le_bytes());
        out.extend_from_slice(c.first.as_bytes());
    }
    encode_packs(&t.packs, out);
    Ok(())
}

fn encode_patch(p: &PatchTable, out: &mut Vec<u8>) -> Result<(), RowError> {
    out.extend_from_slice(&p.base.0.0);
    out.extend_from_slice(&p.depth.to_le_bytes());
    out.extend_from_slice(&p.rows.to_le_bytes());
    encode_packs(&p.packs, out);
    out.extend_from_slice(&(p.edits.len() as u32).to_le_bytes());
    for e in &p.edits {
        let (op, rows) = match e {
            Edit::Add(r) => (0, [Some(r), None]),
            Edit::Change(a, b) => (1, [Some(a), Some(b)]),
            Edit::Remove(r) => (2, [Some(r), None]),
        };
        out.push(op);
        for r in rows.into_iter().flatten() {
            encode_row(r, out)?;
        }
    }
    Ok(())
}

/// Decode a table body.
pub fn decode_table(body: &[u8]) -> Result<Table, DecodeError> {
    let mut r = Reader::new("table", body);
    let table = match r.u8()? {
        0 => Table::Full(r.full_table()?),
        1 => Table::Patch(r.patch_table()?),
        tag => return Err(r.err(format!("unknown table variant {tag}"))),
    };
    r.finish()?;
    Ok(table)
}

impl Reader<'_> {
    fn full_table(&mut self) -> Result<FullTable, DecodeError> {
        let rows = self.u64()?;
        let n = self.count(38)?;
        let mut chunks = Vec::with_capacity(n);
        for _ in 0..n {
            let (hash, count) = (self.hash()?, self.u32()?);
            let len = self.u16()? as usize;
            let first = self.string(len)?.into();
            chunks.push(ChunkRef {
                hash,
                rows: count,
                first,
            });
        }
        let packs = self.packs()?;
        let sum: u64 = chunks.iter().map(|c| u64::from(c.rows)).sum();
        if sum != rows {
            return Err(self.err(format!("chunks hold {sum} rows, the table says {rows}")));
        }
        if let Some(w) = chunks.windows(2).find(|w| w[0].first >= w[1].first) {
            let (a, b) = (&w[0].first, &w[1].first);
            return Err(self.err(format!("chunks out of order: `{a}` before `{b}`")));
        }
        Ok(FullTable {
            rows,
            chunks,
            packs,
        })
    }

    fn patch_table(&mut self) -> Result<PatchTable, DecodeError> {
        let (base, depth, rows) = (ObjectId(self.hash()?), self.u32()?, self.u64()?);
        let packs = self.packs()?;
        let n = self.count(1 + ROW_MIN)?;
        let mut edits: Vec<Edit> = Vec::with_capacity(n);
        for _ in 0..n {
            let edit = self.edit()?;
            if let Some(prev) = edits.last().filter(|p| p.id() >= edit.id()) {
                let (a, b) = (prev.id(), edit.id());
                return Err(self.err(format!("edits out of order: `{a}` before `{b}`")));
            }
            edits.push(edit);
        }
        if depth == 0 || depth > MAX_PATCH_DEPTH {
            return Err(self.err(format!(
                "patch depth {depth} is outside 1..={MAX_PATCH_DEPTH}"
            )));
        }
        Ok(PatchTable {
            base,
            depth,
            rows,
            packs,
            edits,
        })
    }

    fn edit(&mut self) -> Result<Edit, DecodeError> {
        match self.u8()? {
            0 => Ok(Edit::Add(self.row()?)),
            1 => {
                let (a, b) = (self.row()?, self.row()?);
                if a.id != b.id {
                    return Err(self.err(format!("a change of `{}` into `{}`", a.id, b.id)));
                }
                Ok(Edit::Change(a, b))
            }
            2 => Ok(Edit::Remove(self.row()?)),
            op => Err(self.err(format!("unknown edit op {op}"))),
        }
    }
}

/// A commit: an immutable snapshot of the dataset plus history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// Encoding version (1).
    pub format: u32,
    /// The table object.
    pub table: ObjectId,
    /// Parent commits (none for the first).
    pub parents: Vec<CommitId>,
    /// Who made it.
    pub author: String,
    /// Seconds since the Unix epoch.
    pub time: u64,
    /// What it did.
    pub message: String,
}

impl Commit {
    /// Parse a commit's body: JSON whose table and parents are each 64 lowercase hex digits.
    /// One policy for every reader: a malformed parent is an error, never dropped.
    pub fn decode(body: &[u8]) -> Result<Commit, DecodeError> {
        serde_json::from_slice(body).map_err(|e| DecodeError {
            kind: "commit",
            offset: e.column(),
            message: e.to_string(),
        })
    }
}

/// Content-defined chunk boundaries: a chunk ends after a row whose id hash has its low 8 bits
/// zero (about 256 rows per chunk), with at least 16 and at most 4,096 rows. Boundaries
/// depend only on ids, so a label edit rewrites exactly the chunk holding that row.
pub fn chunk_rows(rows: &[Row]) -> Vec<&[Row]> {
    const MIN: usize = 16;
    const MAX: usize = 4096;
    let mut out = Vec::new();
    let mut start = 0;
    for (i, row) in rows.iter().enumerate() {
        let len = i + 1 - start;
        let h = blake3::hash(row.id.as_bytes());
        let b = h.as_bytes();
        let cut = b[0] == 0;
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
    use crate::row::Meta;

    fn row(i: usize) -> Row {
        Row {
            id: format!("ex:{i:06}").into(),
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
                Meta::default()
            },
        }
    }

    #[test]
    fn chunk_round_trip() {
        let rows: Vec<Row> = (0..500).map(row).collect();
        assert_eq!(decode_chunk(&encode_chunk(&rows).unwrap()).unwrap(), rows);
    }

    #[test]
    fn truncated_chunk_is_an_error_not_a_panic() {
        let rows: Vec<Row> = (0..10).map(row).collect();
        let bytes = encode_chunk(&rows).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode_chunk(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = bytes.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_chunk(&huge).unwrap_err().message.contains("exceeds"));
    }

    #[test]
    fn find_rows_matches_a_full_decode() {
        let rows: Vec<Row> = (0..300).map(row).collect();
        let body = encode_chunk(&rows).unwrap();
        let ids = [
            "a",
            "ex:000000",
            "ex:000007",
            "ex:0001",
            "ex:000150",
            "ex:000299",
            "ex:999999",
            "zz",
        ];
        let found = find_rows(&body, &ids).unwrap();
        let want: Vec<Row> = rows
            .iter()
            .filter(|r| ids.contains(&r.id.as_str()))
            .cloned()
            .collect();
        assert_eq!(found, want);
        assert!(find_rows(&body[..body.len() - 3], &["ex:000299"]).is_err());
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
        assert!(a.len() > 40 && a.len() < 200, "{} chunks", a.len());
        let changed = chunk_rows(&rows)
            .iter()
            .zip(chunk_rows(&edited))
            .filter(|(x, y)| encode_chunk(x).unwrap() != encode_chunk(y).unwrap())
            .count();
        assert_eq!(changed, 1);
    }

    #[test]
    fn header_is_checked() {
        let framed = frame(
            Kind::Table,
            &encode_table(&Table::Full(FullTable::default())).unwrap(),
        );
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
