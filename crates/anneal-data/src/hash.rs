//! [`ContentHash`]: a BLAKE3 digest, parsed and checked at the boundary; and the ids that say
//! what a hash names: [`CommitId`] (a commit object) and [`ObjectId`] (any other object, such
//! as a commit's table). Each is hex only at the edges: serde, `Display` and `FromStr` (with
//! the one [`HashParseError`]).

use std::fmt;
use std::str::FromStr;

/// A 32-byte BLAKE3 digest; displayed and parsed as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }

    /// The first 12 hex digits, for display.
    pub fn short(&self) -> String {
        self.to_string()[..12].to_string()
    }
}

/// A string that is not 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid hash `{0}`: expected 64 lowercase hex digits")]
pub struct HashParseError(pub String);

impl FromStr for ContentHash {
    type Err = HashParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || HashParseError(s.chars().take(80).collect());
        if s.len() != 64
            || !s
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Self(out))
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", self.short())
    }
}

/// As 64 lowercase hex digits (how commits name their table and parents).
impl serde::Serialize for ContentHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// From 64 lowercase hex digits, nothing else: a malformed hash is an error, never skipped.
impl<'de> serde::Deserialize<'de> for ContentHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A newtype over [`ContentHash`] that says what the hash names. It reads as its hash where
/// one is needed (`Deref`), but a bare hash becomes one only explicitly (`From`).
macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub ContentHash);

        impl std::ops::Deref for $name {
            type Target = ContentHash;

            fn deref(&self) -> &ContentHash {
                &self.0
            }
        }

        impl From<ContentHash> for $name {
            fn from(h: ContentHash) -> Self {
                Self(h)
            }
        }

        impl From<$name> for ContentHash {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl PartialEq<ContentHash> for $name {
            fn eq(&self, other: &ContentHash) -> bool {
                self.0 == *other
            }
        }

        impl FromStr for $name {
            type Err = HashParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.short())
            }
        }
    };
}

typed_id!(
    /// The hash of a commit object.
    CommitId
);
typed_id!(
    /// The hash of a pack, chunk or table object.
    ObjectId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_rejects() {
        let h = ContentHash::of(b"abc");
        assert_eq!(h.to_hex().parse::<ContentHash>().unwrap(), h);
        assert!("ABC".parse::<ContentHash>().is_err());
        assert!(h.to_hex().to_uppercase().parse::<ContentHash>().is_err());
        assert!(
            format!("{}0", &h.to_hex()[1..])
                .parse::<ContentHash>()
                .is_ok()
        );
        assert!("../etc/passwd".parse::<ContentHash>().is_err());
    }

    #[test]
    fn typed_ids_are_hex_at_the_edges() {
        let h = ContentHash::of(b"abc");
        let id = CommitId::from(h);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{h}\""));
        assert_eq!(serde_json::from_str::<CommitId>(&json).unwrap(), id);
        assert_eq!(id.to_string().parse::<CommitId>().unwrap(), h);
        let err = "abc".parse::<ObjectId>().unwrap_err();
        assert_eq!(err, HashParseError("abc".into()));
        assert!(serde_json::from_str::<ObjectId>("\"xyz\"").is_err());
    }
}
