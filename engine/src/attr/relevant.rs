//! Dropping the attribute lines a checkout cannot be affected by, before matching.
//!
//! Every file of a checkout is matched against every pattern of the `.gitattributes` files
//! above it. Most lines of real files assign only attributes a checkout never consults
//! (`whitespace`, `diff`, `linguist-*`, `conflict-marker-size`): git/git's root file has 21
//! lines and 12 of them are such, one of them `* whitespace=trail,space`, which matches every
//! path. Matching them cannot change the [attributes a checkout reads](super::decide), so
//! they are left out; when nothing is left, no file is matched at all.
//!
//! The filter only ever keeps too much: a line is kept when any of its words (after the
//! first, the pattern) names a consulted attribute or a macro, whatever the word's prefix
//! (`-`, `!`) or value; macro definitions (`[attr]…`) are always kept, and every macro
//! name defined in any source counts, whether or not git honours the macro there. A
//! quoted pattern holding blanks only adds words to look at.

use std::collections::HashSet;

/// git's blanks in an attributes line (`attr.c`).
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// The words of `line`, split at blanks.
pub(super) fn words(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| is_blank(b)).filter(|w| !w.is_empty())
}

/// The name a macro definition line defines, if `line` is one.
fn macro_name(line: &[u8]) -> Option<&[u8]> {
    let first = words(line).next()?;
    first
        .strip_prefix(b"[attr]")
        .filter(|name| !name.is_empty())
}

/// The attribute a word of a line assigns: `name`, `-name`, `!name` or `name=value`.
fn assigned(word: &[u8]) -> &[u8] {
    let word = word
        .strip_prefix(b"-")
        .or(word.strip_prefix(b"!"))
        .unwrap_or(word);
    word.split(|&b| b == b'=').next().unwrap_or(word)
}

/// The attribute names whose lines must be kept in `sources`: `consulted`, the built-in
/// `binary` macro, and every macro any source defines.
pub(super) fn names(consulted: &[&str], sources: &[&[u8]]) -> HashSet<Vec<u8>> {
    let mut names: HashSet<Vec<u8>> = consulted.iter().map(|n| n.as_bytes().to_vec()).collect();
    names.insert(b"binary".to_vec());
    for source in sources {
        names.extend(
            source
                .split(|&b| b == b'\n')
                .filter_map(macro_name)
                .map(<[u8]>::to_vec),
        );
    }
    names
}

/// The lines of `source` that define a macro or assign one of `names`, and how many of
/// them assign something (are not macro definitions).
pub(super) fn filter(source: &[u8], names: &HashSet<Vec<u8>>) -> (Vec<u8>, usize) {
    let mut kept = Vec::new();
    let mut assigning = 0;
    for line in source.split(|&b| b == b'\n') {
        let keep = if words(line).next().is_none_or(|w| w.starts_with(b"#")) {
            false // blank, or a comment
        } else if macro_name(line).is_some() {
            true
        } else if words(line).skip(1).any(|w| names.contains(assigned(w))) {
            assigning += 1;
            true
        } else {
            false
        };
        if keep {
            kept.extend_from_slice(line);
            kept.push(b'\n');
        }
    }
    (kept, assigning)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSULTED: [&str; 2] = ["text", "eol"];

    fn kept(source: &str) -> (String, usize) {
        let names = names(&CONSULTED, &[source.as_bytes()]);
        let (lines, n) = filter(source.as_bytes(), &names);
        (String::from_utf8(lines).unwrap(), n)
    }

    #[test]
    fn lines_assigning_only_unconsulted_attributes_are_dropped() {
        let source = "* whitespace=trail,space\n*.c diff=cpp\n# text\n\n*.sh text eol=lf\n";
        assert_eq!(kept(source), ("*.sh text eol=lf\n".into(), 1));
    }

    #[test]
    fn every_form_of_a_consulted_attribute_keeps_its_line() {
        for line in [
            "a -text",
            "a !text",
            "a text=auto",
            "a\ttext",
            "a eol=crlf\r",
            "a x text y",
        ] {
            assert_eq!(kept(line).1, 1, "{line:?}");
        }
        // A value or a longer name is not the attribute.
        for line in ["a whitespace=text", "a texts", "a xtext", "text"] {
            assert_eq!(kept(line).1, 0, "{line:?}");
        }
    }

    #[test]
    fn macros_and_their_uses_are_kept() {
        let source = "[attr]mine text\n*.x mine\n*.y binary\n*.z other\n";
        assert_eq!(
            kept(source),
            ("[attr]mine text\n*.x mine\n*.y binary\n".into(), 2)
        );
        // A macro defined in one source counts in another.
        let names = names(&CONSULTED, &[b"[attr]m -text\n".as_slice(), b"*.q m\n"]);
        assert_eq!(filter(b"*.q m\n", &names).1, 1);
    }

    #[test]
    fn a_quoted_pattern_with_blanks_is_read_past() {
        assert_eq!(kept("\"a b\" eol=lf").1, 1);
        assert_eq!(kept("\"a b\" diff").1, 0);
    }
}
