//! The little-endian encoding that objects share: a bounds-checked [`Reader`], and example rows
//! (`u16 id_len, id, [32] payload, u16 label_len (0xFFFF = unlabeled), label, u8 split_len,
//! split, u32 meta_len, meta`), as chunks and patches hold them.

use crate::hash::ContentHash;
use crate::limits::RowError;
use crate::row::Row;

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

pub(crate) fn encode_row(r: &Row, out: &mut Vec<u8>) -> Result<(), RowError> {
    crate::limits::encodable(r)?;
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
    let meta = r.meta.as_str();
    out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    out.extend_from_slice(meta.as_bytes());
    Ok(())
}

/// A bounds-checked little-endian reader.
pub(crate) struct Reader<'a> {
    kind: &'static str,
    bytes: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(kind: &'static str, bytes: &'a [u8]) -> Self {
        Self {
            kind,
            bytes,
            pos: 0,
        }
    }

    pub(crate) fn err(&self, message: impl Into<String>) -> DecodeError {
        DecodeError {
            kind: self.kind,
            offset: self.pos + 6,
            message: message.into(),
        }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
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

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub(crate) fn hash(&mut self) -> Result<ContentHash, DecodeError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32)?);
        Ok(ContentHash(a))
    }

    pub(crate) fn string(&mut self, len: usize) -> Result<String, DecodeError> {
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
    pub(crate) fn count(&mut self, min_size: usize) -> Result<usize, DecodeError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size) > self.bytes.len() - self.pos {
            return Err(self.err(format!("count {n} exceeds the object's size")));
        }
        Ok(n)
    }

    pub(crate) fn packs(&mut self) -> Result<Vec<ContentHash>, DecodeError> {
        let n = self.count(32)?;
        let mut packs = Vec::with_capacity(n);
        for _ in 0..n {
            packs.push(self.hash()?);
        }
        Ok(packs)
    }

    pub(crate) fn row(&mut self) -> Result<Row, DecodeError> {
        let len = self.u16()? as usize;
        let id = self.string(len)?.into();
        let payload = self.hash()?;
        let label = match self.u16()? {
            u16::MAX => None,
            len => Some(self.string(len as usize)?),
        };
        let len = self.u8()? as usize;
        let split = self.string(len)?;
        let len = self.u32()? as usize;
        let meta = self.string(len)?.into();
        Ok(Row {
            id,
            payload,
            label,
            split,
            meta,
        })
    }

    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.pos != self.bytes.len() {
            return Err(self.err(format!("{} trailing bytes", self.bytes.len() - self.pos)));
        }
        Ok(())
    }
}

/// The smallest encoded row.
pub(crate) const ROW_MIN: usize = 2 + 32 + 2 + 1 + 4;
