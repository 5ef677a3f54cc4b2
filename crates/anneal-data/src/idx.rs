//! IDX files (the original MNIST format), optionally gzipped.
//!
//! Layout: big-endian `u32` magic (`0x00000803` images, `0x00000801` labels), `u32` count, for
//! images `u32` rows and `u32` cols; then one unsigned byte per pixel or label.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// An IDX problem, naming the file and the byte offset.
#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The bytes are not a valid IDX file.
    #[error("{path}: at byte {offset}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Offset in the (decompressed) file.
        offset: usize,
        /// What was wrong.
        message: String,
    },
    /// Neither the file nor a `PREFIX-images-idx3-ubyte[.gz]` pair exists.
    #[error(
        "no IDX images at {path}: expected the images file itself or a prefix of `PREFIX-images-idx3-ubyte[.gz]`"
    )]
    NotFound {
        /// The path given.
        path: PathBuf,
    },
    /// Images and labels disagree.
    #[error("{images} holds {n_images} images but {labels} holds {n_labels} labels")]
    CountMismatch {
        /// Images file.
        images: PathBuf,
        /// Image count.
        n_images: usize,
        /// Labels file.
        labels: PathBuf,
        /// Label count.
        n_labels: usize,
    },
}

/// Images and labels read from an IDX pair.
#[derive(Debug, Clone)]
pub struct IdxSet {
    /// A name for ids: the file name without `-images-idx3-ubyte[.gz]`.
    pub stem: String,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// `count * rows * cols` pixels.
    pub pixels: Vec<u8>,
    /// One label per image (None when no labels file was found and labels were optional).
    pub labels: Option<Vec<u8>>,
    /// The images file.
    pub images_path: PathBuf,
    /// The labels file, if any.
    pub labels_path: Option<PathBuf>,
}

impl IdxSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / (self.rows * self.cols).max(1)
    }

    /// True if there are no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

const MAX_DECOMPRESSED: u64 = 8 << 30;

/// The most a gzipped IDX may inflate to, per compressed byte (MNIST's ratio is about 5:1; a
/// file of zeros reaches about 1000:1).
const MAX_GZIP_RATIO: u64 = 1024;

/// How a kind of IDX file declares its length: header bytes, and the body length its header
/// declares (None when the header is not of this kind; the parser then names the problem).
struct Layout {
    header: usize,
    body: fn(&[u8]) -> Option<u64>,
}

const IMAGES: Layout = Layout {
    header: 16,
    body: |h| {
        let dims = [be_u32(h, 4), be_u32(h, 8), be_u32(h, 12)].map(u64::from);
        let sane =
            be_u32(h, 0) == 0x803 && (1..=4096).contains(&dims[1]) && (1..=4096).contains(&dims[2]);
        sane.then(|| dims.iter().product())
    },
};

const LABELS: Layout = Layout {
    header: 8,
    body: |h| (be_u32(h, 0) == 0x801).then(|| u64::from(be_u32(h, 4))),
};

/// Read an IDX file (gzipped or not) as far as its header declares, checking the header
/// before inflating or reading the rest, so a small file cannot make this read gigabytes.
fn read_maybe_gz(path: &Path, layout: &Layout) -> Result<Vec<u8>, IdxError> {
    let io = |source| IdxError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = crate::fs::open_regular(path).map_err(io)?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic).map_err(io)?;
    let f = File::open(path).map_err(io)?;
    let packed = f.metadata().map_err(io)?.len();
    let gz = n == 2 && magic == [0x1f, 0x8b];
    let mut stream: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(f))
    } else {
        Box::new(f)
    };
    let damaged = |e: io::Error, at: usize| match gz {
        true => IdxError::Format {
            path: path.to_path_buf(),
            offset: at,
            message: format!("gzip stream is damaged: {e}"),
        },
        false => io(e),
    };
    let mut out = Vec::new();
    (&mut stream)
        .take(layout.header as u64)
        .read_to_end(&mut out)
        .map_err(|e| damaged(e, 0))?;
    let Some(body) = (out.len() == layout.header)
        .then(|| (layout.body)(&out))
        .flatten()
    else {
        return Ok(out);
    };
    check_declared(path, body, gz.then_some(packed))?;
    (&mut stream)
        .take(body + 1)
        .read_to_end(&mut out)
        .map_err(|e| damaged(e, out.len()))?;
    Ok(out)
}

/// Refuse a body larger than any IDX file this reads, or, from a gzip file of `packed` bytes,
/// one that would inflate past [`MAX_GZIP_RATIO`].
fn check_declared(path: &Path, body: u64, packed: Option<u64>) -> Result<(), IdxError> {
    let refuse = |message: String| IdxError::Format {
        path: path.to_path_buf(),
        offset: 4,
        message,
    };
    if let Some(packed) = packed
        && body > MAX_GZIP_RATIO.saturating_mul(packed)
    {
        return Err(refuse(format!(
            "the header declares {body} bytes of data from a {packed}-byte gzip file (over {MAX_GZIP_RATIO}:1); refusing what looks like a decompression bomb"
        )));
    }
    if body > MAX_DECOMPRESSED {
        return Err(refuse(format!(
            "the header declares {body} bytes of data; at most {MAX_DECOMPRESSED} are read"
        )));
    }
    Ok(())
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// What an IDX file of one kind starts with.
struct Header {
    /// `images` or `labels`.
    kind: &'static str,
    magic: u32,
    len: usize,
    /// The other kind's magic, and what to say when a file has it.
    other: (u32, &'static str),
}

const IMAGES_HEADER: Header = Header {
    kind: "images",
    magic: 0x803,
    len: 16,
    other: (0x801, " (this is a labels file)"),
};

const LABELS_HEADER: Header = Header {
    kind: "labels",
    magic: 0x801,
    len: 8,
    other: (0x803, " (this is an images file)"),
};

/// A file's magic number and header length, as `header` says.
fn check_header(path: &Path, bytes: &[u8], header: &Header) -> Result<(), IdxError> {
    let fail = |offset, message: String| IdxError::Format {
        path: path.to_path_buf(),
        offset,
        message,
    };
    let (kind, expected) = (header.kind, header.magic);
    let magic = if bytes.len() >= 4 {
        be_u32(bytes, 0)
    } else {
        0
    };
    if bytes.len() >= 4 && magic != expected {
        let what = if magic == header.other.0 {
            header.other.1
        } else {
            ""
        };
        let message = format!("magic is 0x{magic:08x}, expected 0x{expected:08x} for {kind}{what}");
        return Err(fail(0, message));
    }
    if bytes.len() < header.len {
        let (n, len) = (bytes.len(), header.len);
        return Err(fail(
            n,
            format!("file is {n} bytes; an IDX {kind} header is {len}"),
        ));
    }
    Ok(())
}

/// Parse an IDX images file: (count, rows, cols, pixels).
pub fn parse_images(
    path: &Path,
    bytes: Vec<u8>,
) -> Result<(usize, usize, usize, Vec<u8>), IdxError> {
    let fail = |offset, message: String| IdxError::Format {
        path: path.to_path_buf(),
        offset,
        message,
    };
    check_header(path, &bytes, &IMAGES_HEADER)?;
    let (count, rows, cols) = (
        be_u32(&bytes, 4) as usize,
        be_u32(&bytes, 8) as usize,
        be_u32(&bytes, 12) as usize,
    );
    if rows == 0 || cols == 0 || rows > 4096 || cols > 4096 {
        return Err(fail(
            8,
            format!("image size {rows}x{cols} is out of range (1 to 4096)"),
        ));
    }
    let expected = count as u128 * rows as u128 * cols as u128;
    let actual = (bytes.len() - 16) as u128;
    if expected != actual {
        return Err(fail(
            16,
            format!(
                "header says {count} images of {rows}x{cols} ({expected} bytes) but {actual} bytes follow"
            ),
        ));
    }
    let mut pixels = bytes;
    pixels.drain(..16);
    Ok((count, rows, cols, pixels))
}

/// Parse an IDX labels file.
pub fn parse_labels(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>, IdxError> {
    let fail = |offset, message: String| IdxError::Format {
        path: path.to_path_buf(),
        offset,
        message,
    };
    check_header(path, &bytes, &LABELS_HEADER)?;
    let count = be_u32(&bytes, 4) as usize;
    if count != bytes.len() - 8 {
        return Err(fail(
            8,
            format!(
                "header says {count} labels but {} bytes follow",
                bytes.len() - 8
            ),
        ));
    }
    let mut labels = bytes;
    labels.drain(..8);
    Ok(labels)
}

/// Find the images (and labels) files for `source`: the images file itself, or a prefix.
pub fn resolve(source: &Path) -> Result<(PathBuf, Option<PathBuf>, String), IdxError> {
    let name = source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let images = if source.is_file() {
        source.to_path_buf()
    } else {
        let dir = source.parent().unwrap_or(Path::new(""));
        [
            "-images-idx3-ubyte",
            "-images-idx3-ubyte.gz",
            "-images.idx3-ubyte",
        ]
        .iter()
        .map(|suffix| dir.join(format!("{name}{suffix}")))
        .find(|p| p.is_file())
        .ok_or_else(|| IdxError::NotFound {
            path: source.to_path_buf(),
        })?
    };
    let file = images
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = file
        .split("-images")
        .next()
        .filter(|s| !s.is_empty() && *s != file)
        .map(str::to_string)
        .unwrap_or_else(|| file.split('.').next().unwrap_or("idx").to_string());
    let labels_name = file
        .replace("images-idx3", "labels-idx1")
        .replace("images.idx3", "labels.idx1");
    let labels = (labels_name != file)
        .then(|| images.with_file_name(&labels_name))
        .filter(|p| p.is_file());
    Ok((images, labels, stem))
}

/// The labels file `lp`, one label for each of the `count` images in `images_path`.
fn read_labels(images_path: &Path, count: usize, lp: &Path) -> Result<Vec<u8>, IdxError> {
    let labels = parse_labels(lp, read_maybe_gz(lp, &LABELS)?)?;
    if labels.len() != count {
        return Err(IdxError::CountMismatch {
            images: images_path.to_path_buf(),
            n_images: count,
            labels: lp.to_path_buf(),
            n_labels: labels.len(),
        });
    }
    Ok(labels)
}

/// No labels file beside `images_path`: an error naming the one expected.
fn labels_missing(images_path: &Path) -> IdxError {
    let name = images_path
        .file_name()
        .map(|n| n.to_string_lossy().replace("images-idx3", "labels-idx1"))
        .unwrap_or_default();
    IdxError::Io {
        path: images_path.with_file_name(name),
        source: io::Error::new(
            io::ErrorKind::NotFound,
            "labels file not found (use --unlabeled to import images alone)",
        ),
    }
}

/// Read an IDX pair from `source` (see [`resolve`]). Labels are required unless `unlabeled`.
pub fn read(source: &Path, unlabeled: bool) -> Result<IdxSet, IdxError> {
    let (images_path, labels_path, stem) = resolve(source)?;
    let (count, rows, cols, pixels) =
        parse_images(&images_path, read_maybe_gz(&images_path, &IMAGES)?)?;
    let labels = match (&labels_path, unlabeled) {
        (_, true) => None,
        (Some(lp), false) => Some(read_labels(&images_path, count, lp)?),
        (None, false) => return Err(labels_missing(&images_path)),
    };
    Ok(IdxSet {
        stem,
        rows,
        cols,
        pixels,
        labels,
        images_path,
        labels_path: if unlabeled { None } else { labels_path },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(count: u32, r: u32, c: u32, body: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [0x803, count, r, c] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v.extend(std::iter::repeat_n(7u8, body));
        v
    }

    #[test]
    fn accepts_a_well_formed_file() {
        let (n, r, c, px) = parse_images(Path::new("x"), images(2, 2, 3, 12)).unwrap();
        assert_eq!((n, r, c, px.len()), (2, 2, 3, 12));
    }

    #[test]
    fn truncated_file_names_counts() {
        let e = parse_images(Path::new("t.idx"), images(3, 28, 28, 100))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "t.idx: at byte 16: header says 3 images of 28x28 (2352 bytes) but 100 bytes follow"
        );
    }

    #[test]
    fn swapped_files_are_named() {
        let mut l = vec![0, 0, 8, 1, 0, 0, 0, 1, 5];
        assert!(
            parse_images(Path::new("l"), l.clone())
                .unwrap_err()
                .to_string()
                .contains("this is a labels file")
        );
        l[3] = 3;
        assert!(
            parse_labels(Path::new("l"), l)
                .unwrap_err()
                .to_string()
                .contains("this is an images file")
        );
    }
}
