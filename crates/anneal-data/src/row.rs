//! [`Row`]: one example as the store holds it, with its [`ExampleId`] and [`Meta`]data.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;

use serde_json::Value;

use crate::hash::ContentHash;

/// What [`ExampleId`] and [`Meta`] share as text newtypes: made from a `String` or `&str` as
/// given, compared with and displayed as their text.
macro_rules! text_newtype {
    ($name:ident) => {
        impl From<String> for $name {
            fn from(text: String) -> Self {
                $name(text)
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                $name(text.to_string())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_newtype!(ExampleId);
text_newtype!(Meta);

/// One example, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Stable id, unique in the dataset.
    pub id: ExampleId,
    /// Hash of the payload blob.
    pub payload: ContentHash,
    /// Label, or `None` for the unlabeled pool.
    pub label: Option<String>,
    /// Split name (`train`, `test`, ...; empty for none).
    pub split: String,
    /// Metadata: a JSON object of strings, or none.
    pub meta: Meta,
}

/// An example's id: the user's string, unique in its dataset. What it may hold is checked where
/// rows are written ([`crate::limits`]); it reads as its string (`Deref`, `Borrow<str>`, so maps
/// keyed by id are looked up by `&str`), and serializes, displays and orders as it.
#[derive(
    Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct ExampleId(String);

impl ExampleId {
    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for ExampleId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for ExampleId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<ExampleId> for String {
    fn from(id: ExampleId) -> Self {
        id.0
    }
}

/// As the string (so a row's `Debug` reads as it did when the id was a `String`).
impl fmt::Debug for ExampleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// An example's metadata: a JSON object of string fields (`{"speaker":"jo"}`), or none.
///
/// Held as the text the store holds, byte for byte, so reading and writing a row never changes
/// its encoding (text that is not an object, as an older or damaged store may hold, reads back
/// as it was); [`Meta::value`] and [`Meta::fields`] parse it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Meta(String);

impl Meta {
    /// The canonical form of `fields`: a JSON object with sorted keys, or none when empty.
    pub fn from_fields(fields: &BTreeMap<String, String>) -> Meta {
        if fields.is_empty() {
            return Meta::default();
        }
        Meta(serde_json::to_string(fields).unwrap_or_default())
    }

    /// The stored text (empty for none).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// No metadata.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// As JSON: the object, `{}` for none, or the text as a JSON string when it is not JSON
    /// (so a damaged value is shown rather than hidden).
    pub fn value(&self) -> Value {
        if self.is_empty() {
            return Value::Object(serde_json::Map::new());
        }
        serde_json::from_str(&self.0).unwrap_or_else(|_| Value::String(self.0.clone()))
    }

    /// The fields, values that are not strings written as JSON; None when there is no object.
    pub fn fields(&self) -> Option<BTreeMap<String, String>> {
        let object = serde_json::from_str::<serde_json::Map<String, Value>>(&self.0).ok()?;
        let text = |v: Value| match v {
            Value::String(s) => s,
            other => other.to_string(),
        };
        Some(object.into_iter().map(|(k, v)| (k, text(v))).collect())
    }
}

/// As [`Meta::value`].
impl serde::Serialize for Meta {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_ids_read_and_write_as_their_string() {
        let id = ExampleId::from("digits:00017");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"digits:00017\"");
        assert_eq!(serde_json::from_str::<ExampleId>("\"x\"").unwrap(), "x");
        assert_eq!(
            (id.to_string(), format!("{id:?}")),
            ("digits:00017".into(), "\"digits:00017\"".into())
        );
        let mut ids = [ExampleId::from("b"), "a".into()];
        ids.sort();
        assert_eq!(ids[0], "a");
    }
}
