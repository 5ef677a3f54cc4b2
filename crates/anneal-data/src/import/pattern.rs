//! File-name patterns such as `{label}_{speaker}_{take}.wav`: literal text and `{field}`s.
//!
//! A field matches one or more characters, as few as let the rest of the name match (so
//! `{label}_{speaker}_{take}.wav` reads `0_george_10.wav` as label `0`, speaker `george`,
//! take `10`). Two fields must be separated by literal text. A pattern with a `.` is matched
//! against the whole file name, one without against the name less its extension.

use std::str::FromStr;

/// A parsed file-name pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field(String),
}

/// Why a pattern is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pattern `{pattern}`: {message}")]
pub struct PatternError {
    /// The pattern.
    pub pattern: String,
    /// What is wrong with it.
    pub message: String,
}

impl FromStr for Pattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |message: String| PatternError {
            pattern: text.to_string(),
            message,
        };
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                Some(0) if rest.starts_with('}') => {
                    return Err(err("a `}` without its `{`".into()));
                }
                Some(0) => {
                    let (name, end) = field(rest, &parts).map_err(err)?;
                    parts.push(Part::Field(name));
                    rest = &rest[end + 1..];
                }
                Some(at) => {
                    parts.push(Part::Literal(rest[..at].to_string()));
                    rest = &rest[at..];
                }
                None => {
                    parts.push(Part::Literal(rest.to_string()));
                    rest = "";
                }
            }
        }
        if !parts.iter().any(|p| matches!(p, Part::Field(_))) {
            return Err(err(
                "no `{field}` in it, e.g. `{label}_{speaker}.wav`".into()
            ));
        }
        Ok(Pattern {
            text: text.to_string(),
            parts,
        })
    }
}

/// The `{field}` that `rest` starts with, and where its `}` is; checked against the `parts`
/// before it (a message for the error otherwise).
fn field(rest: &str, parts: &[Part]) -> Result<(String, usize), String> {
    let end = rest.find('}').ok_or("a `{` without its `}`")?;
    let name = &rest[1..end];
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if name.is_empty() || !name.chars().all(allowed) {
        return Err(format!(
            "field `{{{name}}}`: use letters, digits, `_` and `-`"
        ));
    }
    if let Some(Part::Field(prev)) = parts.last() {
        return Err(format!(
            "fields `{{{prev}}}` and `{{{name}}}` need literal text between them"
        ));
    }
    if parts.contains(&Part::Field(name.to_string())) {
        return Err(format!("field `{{{name}}}` appears twice"));
    }
    Ok((name.to_string(), end))
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Pattern {
    /// The field names, in order.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(f) => Some(f.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Match a file name; returns each field's value, in order, or None.
    pub fn matches(&self, file_name: &str) -> Option<Vec<(String, String)>> {
        let name = if self.text.contains('.') {
            file_name
        } else {
            file_name.rsplit_once('.').map_or(file_name, |(s, _)| s)
        };
        let mut out = Vec::new();
        match_parts(&self.parts, name, &mut out).then_some(out)
    }
}

fn match_parts(parts: &[Part], s: &str, out: &mut Vec<(String, String)>) -> bool {
    match parts {
        [] => s.is_empty(),
        [Part::Literal(l), rest @ ..] => s
            .strip_prefix(l.as_str())
            .is_some_and(|s| match_parts(rest, s, out)),
        [Part::Field(f)] => {
            if s.is_empty() {
                return false;
            }
            out.push((f.clone(), s.to_string()));
            true
        }
        [Part::Field(f), Part::Literal(l), ..] => {
            let mut from = 1;
            while let Some(at) = s.get(from..).and_then(|t| t.find(l.as_str())) {
                let end = from + at;
                out.push((f.clone(), s[..end].to_string()));
                if match_parts(&parts[1..], &s[end..], out) {
                    return true;
                }
                out.truncate(out.len() - 1);
                from = end + 1;
            }
            false
        }
        [Part::Field(_), Part::Field(_), ..] => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, name: &str) -> Option<Vec<(String, String)>> {
        p.parse::<Pattern>().unwrap().matches(name)
    }

    #[test]
    fn fsdd_names() {
        let got = m("{label}_{speaker}_{take}.wav", "0_george_10.wav").unwrap();
        let want = [("label", "0"), ("speaker", "george"), ("take", "10")];
        assert_eq!(
            got,
            want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec()
        );
        assert_eq!(m("{label}_{speaker}_{take}.wav", "0_george.wav"), None);
        assert_eq!(m("{label}_{speaker}_{take}.wav", "0_george_1.png"), None);
        // Without a dot the extension is ignored; fields are as short as possible.
        let got = m("{label}-{rest}", "cat-a-b.png").unwrap();
        assert_eq!(got[0].1, "cat");
        assert_eq!(got[1].1, "a-b");
    }

    #[test]
    fn bad_patterns_say_why() {
        for (p, why) in [
            ("{label}{speaker}", "need literal text"),
            ("{label", "without its `}`"),
            ("label}", "without its `{`"),
            ("{}", "use letters"),
            ("plain.wav", "no `{field}`"),
            ("{a}_{a}", "twice"),
        ] {
            let e = p.parse::<Pattern>().unwrap_err();
            assert!(e.to_string().contains(why), "{p}: {e}");
        }
    }
}
