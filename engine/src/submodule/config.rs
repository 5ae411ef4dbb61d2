//! The subset of git's config syntax that `.gitmodules` and a store's `config` use: sections
//! with quoted subsections, keys, values with quotes, escapes and continuation lines, and
//! comments. Includes are not followed (git never follows them in `.gitmodules`).
//!
//! The text comes from a commit, so from anyone: the parser never panics, allocates no more
//! than the text's size, and refuses what git would refuse rather than guessing.

use bstr::{BStr, BString, ByteSlice};

/// One `key = value` line: its section, subsection and key (section and key lowercased, as
/// git compares them), and its value, unquoted and unescaped; `None` for a bare key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) section: BString,
    pub(crate) subsection: Option<BString>,
    pub(crate) key: BString,
    pub(crate) value: Option<BString>,
}

/// Why the text is not a config file: the 1-based line and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub(crate) line: usize,
    pub(crate) what: &'static str,
}

/// Every entry of `text`, in order.
pub(crate) fn parse(text: &[u8]) -> Result<Vec<Entry>, ParseError> {
    let mut parser = Parser {
        text,
        at: 0,
        line: 1,
    };
    let mut entries = Vec::new();
    let mut section: Option<(BString, Option<BString>)> = None;
    loop {
        parser.skip_blank();
        let Some(c) = parser.peek() else {
            return Ok(entries);
        };
        match c {
            b'\n' => parser.bump(),
            b'#' | b';' => parser.skip_line(),
            b'[' => section = Some(parser.header()?),
            c if c.is_ascii_alphabetic() => {
                let Some((name, subsection)) = &section else {
                    return Err(parser.error("a key outside any section"));
                };
                let key = parser.key();
                parser.skip_blank();
                let value = match parser.peek() {
                    Some(b'=') => {
                        parser.bump();
                        Some(parser.value()?)
                    }
                    None | Some(b'\n' | b'#' | b';') => {
                        parser.skip_line();
                        None
                    }
                    Some(_) => return Err(parser.error("a key must be followed by `=`")),
                };
                entries.push(Entry {
                    section: name.clone(),
                    subsection: subsection.clone(),
                    key,
                    value,
                });
            }
            _ => return Err(parser.error("expected a section, a key or a comment")),
        }
    }
}

struct Parser<'t> {
    text: &'t [u8],
    at: usize,
    line: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn bump(&mut self) {
        if self.peek() == Some(b'\n') {
            self.line += 1;
        }
        self.at += 1;
    }

    fn error(&self, what: &'static str) -> ParseError {
        ParseError {
            line: self.line,
            what,
        }
    }

    fn skip_blank(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r')) {
            self.bump();
        }
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.peek() {
            self.bump();
            if c == b'\n' {
                break;
            }
        }
    }

    /// `[name]`, `[name "subsection"]` or the legacy `[name.subsection]`.
    fn header(&mut self) -> Result<(BString, Option<BString>), ParseError> {
        self.bump();
        let mut name = BString::default();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'-' || c == b'.' {
                name.push(c.to_ascii_lowercase());
                self.bump();
            } else {
                break;
            }
        }
        if name.is_empty() {
            return Err(self.error("a section header without a name"));
        }
        let mut subsection = None;
        self.skip_blank();
        if self.peek() == Some(b'"') {
            self.bump();
            let mut sub = BString::default();
            loop {
                match self.peek() {
                    None | Some(b'\n') => return Err(self.error("an unterminated subsection")),
                    Some(b'"') => {
                        self.bump();
                        break;
                    }
                    Some(b'\\') => {
                        self.bump();
                        match self.peek() {
                            None | Some(b'\n') => {
                                return Err(self.error("an unterminated subsection"));
                            }
                            Some(c) => {
                                sub.push(c);
                                self.bump();
                            }
                        }
                    }
                    Some(c) => {
                        sub.push(c);
                        self.bump();
                    }
                }
            }
            subsection = Some(sub);
        } else if let Some(dot) = name.find_byte(b'.') {
            subsection = Some(name[dot + 1..].into());
            name.truncate(dot);
        }
        if self.peek() != Some(b']') {
            return Err(self.error("a section header must end with `]`"));
        }
        self.bump();
        Ok((name, subsection))
    }

    fn key(&mut self) -> BString {
        let mut key = BString::default();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'-' {
                key.push(c.to_ascii_lowercase());
                self.bump();
            } else {
                break;
            }
        }
        key
    }

    /// A value up to the end of its (last continued) line: unquoted whitespace at its ends
    /// dropped, quotes removed, `\\`, `\"`, `\n`, `\t` and `\b` unescaped.
    fn value(&mut self) -> Result<BString, ParseError> {
        let mut value = BString::default();
        let mut quoted = false;
        // Length of the value up to its last quoted or non-blank byte.
        let mut kept = 0;
        self.skip_blank();
        loop {
            let Some(c) = self.peek() else {
                if quoted {
                    return Err(self.error("an unterminated quote"));
                }
                break;
            };
            match c {
                b'\n' if quoted => return Err(self.error("an unterminated quote")),
                b'\n' => {
                    self.bump();
                    break;
                }
                b'#' | b';' if !quoted => {
                    self.skip_line();
                    break;
                }
                b'"' => {
                    quoted = !quoted;
                    self.bump();
                    kept = value.len();
                }
                b'\\' => {
                    self.bump();
                    let escaped = match self.peek() {
                        Some(b'\n') => {
                            // A continuation line.
                            self.bump();
                            continue;
                        }
                        Some(b'\r') if self.text.get(self.at + 1) == Some(&b'\n') => {
                            self.bump();
                            self.bump();
                            continue;
                        }
                        Some(b'\\') => b'\\',
                        Some(b'"') => b'"',
                        Some(b'n') => b'\n',
                        Some(b't') => b'\t',
                        Some(b'b') => 8,
                        _ => return Err(self.error("an unknown escape in a value")),
                    };
                    self.bump();
                    value.push(escaped);
                    kept = value.len();
                }
                c => {
                    self.bump();
                    value.push(c);
                    if quoted || !matches!(c, b' ' | b'\t' | b'\r') {
                        kept = value.len();
                    }
                }
            }
        }
        value.truncate(kept);
        Ok(value)
    }
}

/// The superproject URL a store records, its `remote.origin.url`, from the text of its
/// `config`: what relative submodule URLs resolve against. `None` if there is none, or the
/// text is not a config file.
pub fn origin_url(config: &[u8]) -> Option<String> {
    let entries = parse(config).ok()?;
    let url = first(&entries, "remote", Some("origin".into()), "url")?;
    url.to_str().ok().map(str::to_owned)
}

/// The first value of `key` in `[section "subsection"]` (or `[section]` when `subsection`
/// is `None`) among `entries`.
pub(crate) fn first<'e>(
    entries: &'e [Entry],
    section: &str,
    subsection: Option<&BStr>,
    key: &str,
) -> Option<&'e BStr> {
    entries
        .iter()
        .find(|e| {
            e.section == section
                && e.subsection.as_ref().map(|s| s.as_bstr()) == subsection
                && e.key == key
        })
        .and_then(|e| e.value.as_ref().map(|v| v.as_bstr()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_keys_and_values_are_read_as_git_reads_them() {
        let text = b"# a comment\n[submodule \"lib/a \\\"q\\\"\"]\n\tpath = lib/a ; trailing\n\
            \tURL = \"../a.git\"  \n[Core]\n\tbare\n[remote.origin]\n\turl = x\\\n y\n";
        let entries = parse(text).expect("valid config");
        let show: Vec<String> = entries
            .iter()
            .map(|e| {
                format!(
                    "{}|{}|{}|{}",
                    e.section,
                    e.subsection.as_ref().map_or("-".into(), |s| s.to_string()),
                    e.key,
                    e.value.as_ref().map_or("-".into(), |v| v.to_string())
                )
            })
            .collect();
        assert_eq!(
            show,
            [
                "submodule|lib/a \"q\"|path|lib/a",
                "submodule|lib/a \"q\"|url|../a.git",
                "core|-|bare|-",
                "remote|origin|url|x y",
            ],
            "every entry, unquoted"
        );
        assert_eq!(
            first(&entries, "remote", Some("origin".into()), "url").map(|v| v.to_string()),
            Some("x y".into())
        );
    }

    #[test]
    fn malformed_text_is_refused_with_its_line() {
        for (text, line) in [
            (&b"key = v\n"[..], 1),
            (b"[s]\n[t \"open\n", 2),
            (b"[s]\nk = \"open\n", 2),
            (b"[s]\nk = a\\q\n", 2),
            (b"[s\n", 1),
            (b"[s]\n= v\n", 2),
        ] {
            let err = parse(text).expect_err("malformed");
            assert_eq!(err.line, line, "{:?}: {err:?}", text.as_bstr());
        }
    }
}
