//! The words of a layer string and the argument forms the layer kinds share: whole numbers,
//! `keyword value` options, nothing more after the last argument.

use super::{LayerError, MAX_NUMBER};

/// One whitespace-separated word and its byte offset in the layer string.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Word<'a> {
    pub text: &'a str,
    pub offset: usize,
}

/// The words of `s`, with their offsets.
pub(crate) fn words(s: &str) -> Vec<Word<'_>> {
    let starts = s
        .char_indices()
        .filter(|&(i, c)| !c.is_whitespace() && (i == 0 || is_space_before(s, i)));
    starts
        .map(|(i, _)| {
            let len = s[i..].find(char::is_whitespace).unwrap_or(s.len() - i);
            Word {
                text: &s[i..i + len],
                offset: i,
            }
        })
        .collect()
}

fn is_space_before(s: &str, i: usize) -> bool {
    s[..i].chars().next_back().is_some_and(char::is_whitespace)
}

/// A layer's name and the words after it, with the form to show in hints.
pub(crate) struct Args<'a> {
    pub head: Word<'a>,
    pub rest: &'a [Word<'a>],
    /// The name, lowercased.
    pub name: &'a str,
}

impl Args<'_> {
    /// The whole number at position `i` (at least 1, unless `what` is the pad value).
    pub fn positive(&self, i: usize, form: &str, what: &str) -> Result<usize, LayerError> {
        positive(self.rest, i, &self.head, form, what)
    }

    /// Nothing after the first `n` arguments.
    pub fn no_more(&self, n: usize, form: &str) -> Result<(), LayerError> {
        match self.rest.get(n) {
            Some(w) => Err(LayerError::at(w, format!("unexpected `{}`", w.text))
                .with_hint(format!("the form is `{form}`"))),
            None => Ok(()),
        }
    }

    /// `keyword value` pairs from argument `from` on, in any order, each at most once.
    pub fn options(
        &self,
        from: usize,
        keys: &[&str],
        form: &str,
    ) -> Result<Vec<Option<usize>>, LayerError> {
        let args = self.rest.get(from..).unwrap_or_default();
        let mut out = vec![None; keys.len()];
        for i in (0..args.len()).step_by(2) {
            let key = &args[i];
            let slot = key_slot(key, keys, form)?;
            if out[slot].is_some() {
                return Err(LayerError::at(key, format!("`{}` given twice", key.text)));
            }
            out[slot] = Some(option_value(args, i, form)?);
        }
        Ok(out)
    }
}

/// Which of `keys` the word `key` is.
fn key_slot(key: &Word<'_>, keys: &[&str], form: &str) -> Result<usize, LayerError> {
    keys.iter().position(|k| *k == key.text).ok_or_else(|| {
        let err = LayerError::at(key, format!("unexpected `{}`", key.text));
        match suggest(key.text, keys) {
            Some(s) => err.with_hint(format!("did you mean `{s}`? the form is `{form}`")),
            None => err.with_hint(format!("the form is `{form}`")),
        }
    })
}

/// The value after the option keyword at `args[i]`.
fn option_value(args: &[Word<'_>], i: usize, form: &str) -> Result<usize, LayerError> {
    let key = &args[i];
    let value = positive(args, i + 1, key, form, &format!("the {} value", key.text))?;
    if key.text == "stride" && value == 0 {
        return Err(LayerError::at(key, "stride must be at least 1"));
    }
    Ok(value)
}

fn positive(
    args: &[Word<'_>],
    i: usize,
    after: &Word<'_>,
    form: &str,
    what: &str,
) -> Result<usize, LayerError> {
    let hint = || format!("the form is `{form}`");
    let Some(w) = args.get(i) else {
        let message = format!("missing {what} after `{}`", after.text);
        return Err(LayerError::at(after, message).with_hint(hint()));
    };
    let fail = |message: String| LayerError::at(w, message);
    match w.text.parse::<usize>() {
        Ok(0) if what != "the pad value" => {
            Err(fail(format!("{what} must be at least 1, found 0")))
        }
        Ok(v) if v > MAX_NUMBER => Err(fail(format!(
            "{what} must be at most {MAX_NUMBER}, found {v}"
        ))),
        Ok(v) => Ok(v),
        Err(_) => {
            let message = format!("expected {what} (a whole number), found `{}`", w.text);
            Err(fail(message).with_hint(hint()))
        }
    }
}

/// The closest candidate within edit distance 2, if any.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.min(c.len().saturating_sub(1)))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_their_offsets() {
        let w = words("  conv\t32  5x5 ");
        let got: Vec<(&str, usize)> = w.iter().map(|w| (w.text, w.offset)).collect();
        assert_eq!(got, [("conv", 2), ("32", 7), ("5x5", 11)]);
        assert!(words(" \t ").is_empty());
    }
}
