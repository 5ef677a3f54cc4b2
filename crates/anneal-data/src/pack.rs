//! Pack bodies: payload blobs stored once, each named by the BLAKE3 of its bytes (the layout is
//! in [`crate::object`]).

use crate::codec::{DecodeError, Reader};
use crate::hash::ContentHash;

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
