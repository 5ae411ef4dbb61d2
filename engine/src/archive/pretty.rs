//! git's pretty formats, as `export-subst` expands them (`format_subst` and
//! `repo_format_commit_message` in git's `pretty.c`): the placeholders a `$Format:…$` may
//! hold.
//!
//! Supported: `%H %h %T %t %P %p`, `%an %ae %ad %aD %ai %aI %at` and their committer
//! forms `%c…`, `%s %b %B`, `%d %D`, `%n %%`, `%x` followed by two hex digits, and
//! `%(describe…)` with `tags`, `abbrev`, `match` and `exclude`. A placeholder git does not
//! know is left as it is, as git leaves it; one this module does not know is too.

use bstr::{BStr, BString, ByteSlice};
use gix_hash::ObjectId;

/// A commit as the placeholders see it.
pub(crate) struct Commit {
    pub(crate) id: ObjectId,
    pub(crate) tree: ObjectId,
    pub(crate) parents: Vec<ObjectId>,
    pub(crate) author: Signature,
    pub(crate) committer: Signature,
    pub(crate) message: BString,
}

/// An author or committer line: `Name <email> seconds ±hhmm`.
pub(crate) struct Signature {
    pub(crate) name: BString,
    pub(crate) email: BString,
    pub(crate) seconds: i64,
    /// The offset from UTC in minutes.
    pub(crate) offset: i32,
}

impl Commit {
    /// Parse a commit object's content; `None` if it is not one.
    pub(crate) fn parse(id: ObjectId, data: &[u8]) -> Option<Commit> {
        let (headers, message) = match data.find(b"\n\n") {
            Some(at) => (&data[..at], &data[at + 2..]),
            None => (data, &b""[..]),
        };
        let mut tree = None;
        let mut parents = Vec::new();
        let mut author = None;
        let mut committer = None;
        for line in headers.lines() {
            if let Some(hex) = line.strip_prefix(b"tree ") {
                tree = ObjectId::from_hex(hex).ok();
            } else if let Some(hex) = line.strip_prefix(b"parent ") {
                parents.push(ObjectId::from_hex(hex).ok()?);
            } else if let Some(sig) = line.strip_prefix(b"author ") {
                author = Signature::parse(sig);
            } else if let Some(sig) = line.strip_prefix(b"committer ") {
                committer = Signature::parse(sig);
            }
        }
        Some(Commit {
            id,
            tree: tree?,
            parents,
            author: author?,
            committer: committer?,
            message: message.into(),
        })
    }

    /// The subject: the first paragraph, its lines joined with spaces.
    fn subject(&self) -> BString {
        let mut out = BString::default();
        for line in self.message.lines() {
            if line.trim().is_empty() {
                if out.is_empty() {
                    continue;
                }
                break;
            }
            if !out.is_empty() {
                out.push(b' ');
            }
            out.extend_from_slice(line.trim_end());
        }
        out
    }

    /// The body: what follows the subject's paragraph.
    fn body(&self) -> BString {
        let mut lines = self.message.lines_with_terminator().peekable();
        while lines.peek().is_some_and(|l| l.trim().is_empty()) {
            lines.next();
        }
        while lines.peek().is_some_and(|l| !l.trim().is_empty()) {
            lines.next();
        }
        while lines.peek().is_some_and(|l| l.trim().is_empty()) {
            lines.next();
        }
        lines
            .flat_map(|l| l.iter().copied())
            .collect::<Vec<u8>>()
            .into()
    }
}

impl Signature {
    /// The time of a signature line, in seconds since the epoch.
    pub(crate) fn parse_time(line: &[u8]) -> Option<i64> {
        Signature::parse(line).map(|s| s.seconds)
    }

    pub(crate) fn parse(line: &[u8]) -> Option<Signature> {
        let open = line.find_byte(b'<')?;
        let close = open + line[open..].find_byte(b'>')?;
        let mut rest = line[close + 1..].trim().split_str(" ");
        let seconds = rest.next()?.to_str().ok()?.parse().ok()?;
        let tz = rest.next().unwrap_or(b"+0000");
        let sign = if tz.first() == Some(&b'-') { -1 } else { 1 };
        let digits: i32 = tz.get(1..)?.to_str().ok()?.parse().ok()?;
        Some(Signature {
            name: line[..open].trim().into(),
            email: line[open + 1..close].into(),
            seconds,
            offset: sign * (digits / 100 * 60 + digits % 100),
        })
    }
}

/// What the expansion needs besides the commit.
pub(crate) trait Context {
    /// `id` abbreviated as git abbreviates it: unique in the store, at least 7 digits.
    fn abbrev(&mut self, id: &ObjectId) -> String;
    /// `%d`'s names, without the parentheses (`HEAD -> main, tag: v1`).
    fn decorations(&mut self) -> String;
    /// `git describe` with these arguments (`tags`, `abbrev=N`, `match=P`, `exclude=P`),
    /// or `None` when git would leave the placeholder as it is (one `%(describe)` per
    /// archive).
    fn describe(&mut self, args: &[(String, Option<String>)]) -> Option<String>;
}

/// `data` with every `$Format:…$` expanded for `commit` (git's `format_subst`).
pub(crate) fn format_subst(data: &[u8], commit: &Commit, cx: &mut dyn Context) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut rest = data;
    while let Some(start) = rest.find(b"$Format:") {
        let Some(end) = rest[start + 8..].find_byte(b'$').map(|e| e + start + 8) else {
            break;
        };
        out.extend_from_slice(&rest[..start]);
        format(rest[start + 8..end].as_bstr(), commit, cx, &mut out);
        rest = &rest[end + 1..];
    }
    out.extend_from_slice(rest);
    out
}

/// Expand one format (git's `repo_format_commit_message`).
fn format(fmt: &BStr, commit: &Commit, cx: &mut dyn Context, out: &mut Vec<u8>) {
    let mut i = 0;
    while i < fmt.len() {
        if fmt[i] != b'%' {
            out.push(fmt[i]);
            i += 1;
            continue;
        }
        match placeholder(&fmt[i + 1..], commit, cx) {
            Some((text, used)) => {
                out.extend_from_slice(&text);
                i += 1 + used;
            }
            None => {
                out.push(b'%');
                i += 1;
            }
        }
    }
}

/// The expansion of the placeholder at the start of `p` (after its `%`) and how many bytes
/// it took, or `None` if there is none there.
fn placeholder(p: &[u8], c: &Commit, cx: &mut dyn Context) -> Option<(Vec<u8>, usize)> {
    let one = |text: String| Some((text.into_bytes(), 1));
    match *p.first()? {
        b'%' => one("%".into()),
        b'n' => one("\n".into()),
        b'H' => one(c.id.to_string()),
        b'h' => one(cx.abbrev(&c.id)),
        b'T' => one(c.tree.to_string()),
        b't' => one(cx.abbrev(&c.tree)),
        b'P' => one(c
            .parents
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")),
        b'p' => {
            let parents: Vec<String> = c.parents.iter().map(|id| cx.abbrev(id)).collect();
            one(parents.join(" "))
        }
        b's' => Some((c.subject().into(), 1)),
        b'b' => Some((c.body().into(), 1)),
        b'B' => Some((c.message.to_vec(), 1)),
        b'd' => {
            let names = cx.decorations();
            one(if names.is_empty() {
                names
            } else {
                format!(" ({names})")
            })
        }
        b'D' => one(cx.decorations()),
        b'x' => {
            let hex = p.get(1..3)?.to_str().ok()?;
            Some((vec![u8::from_str_radix(hex, 16).ok()?], 3))
        }
        who @ (b'a' | b'c') => {
            let sig = if who == b'a' { &c.author } else { &c.committer };
            let text = match *p.get(1)? {
                b'n' => sig.name.to_string(),
                b'e' => sig.email.to_string(),
                b'd' => date(sig, DateStyle::Normal),
                b'D' => date(sig, DateStyle::Rfc2822),
                b'i' => date(sig, DateStyle::Iso),
                b'I' => date(sig, DateStyle::StrictIso),
                b't' => sig.seconds.to_string(),
                _ => return None,
            };
            Some((text.into_bytes(), 2))
        }
        b'(' => {
            let close = p.find_byte(b')')?;
            let inner = p[1..close].to_str().ok()?;
            let args = match inner.strip_prefix("describe") {
                Some("") => Vec::new(),
                Some(rest) => describe_args(rest.strip_prefix(':')?)?,
                None => return None,
            };
            let text = cx.describe(&args)?;
            Some((text.into_bytes(), close + 1))
        }
        _ => None,
    }
}

/// `%(describe:…)`'s options, as git's `parse_describe_args` reads them: `key` or
/// `key=value`, separated by commas; `None` for one git does not know.
fn describe_args(text: &str) -> Option<Vec<(String, Option<String>)>> {
    text.split(',')
        .map(|arg| {
            let (key, value) = match arg.split_once('=') {
                Some((k, v)) => (k, Some(v.to_owned())),
                None => (arg, None),
            };
            matches!(key, "tags" | "abbrev" | "match" | "exclude").then(|| (key.to_owned(), value))
        })
        .collect()
}

enum DateStyle {
    /// `Tue Nov 14 17:15:00 2023 -0500`.
    Normal,
    /// `Tue, 14 Nov 2023 17:15:00 -0500`.
    Rfc2822,
    /// `2023-11-14 17:15:00 -0500`.
    Iso,
    /// `2023-11-14T17:15:00-05:00`.
    StrictIso,
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The signature's time in its own time zone, as git shows it.
fn date(sig: &Signature, style: DateStyle) -> String {
    let local = sig.seconds + i64::from(sig.offset) * 60;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (year, month, day) = civil(days);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let weekday = DAYS[(days + 4).rem_euclid(7) as usize];
    let sign = if sig.offset < 0 { '-' } else { '+' };
    let (oh, om) = (sig.offset.abs() / 60, sig.offset.abs() % 60);
    let month_name = MONTHS[(month - 1) as usize];
    match style {
        DateStyle::Normal => {
            format!("{weekday} {month_name} {day} {h:02}:{m:02}:{s:02} {year} {sign}{oh:02}{om:02}")
        }
        DateStyle::Rfc2822 => format!(
            "{weekday}, {day} {month_name} {year} {h:02}:{m:02}:{s:02} {sign}{oh:02}{om:02}"
        ),
        DateStyle::Iso => {
            format!("{year}-{month:02}-{day:02} {h:02}:{m:02}:{s:02} {sign}{oh:02}{om:02}")
        }
        DateStyle::StrictIso => {
            let zone = if sig.offset == 0 {
                "Z".to_owned()
            } else {
                format!("{sign}{oh:02}:{om:02}")
            };
            format!("{year}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}{zone}")
        }
    }
}

/// Year, month and day of `days` since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_shown_in_the_signatures_zone() {
        let sig = Signature::parse(b"C <c@d> 1700000100 -0500").unwrap();
        assert_eq!(
            date(&sig, DateStyle::Normal),
            "Tue Nov 14 17:15:00 2023 -0500"
        );
        assert_eq!(date(&sig, DateStyle::Iso), "2023-11-14 17:15:00 -0500");
        assert_eq!(
            date(&sig, DateStyle::StrictIso),
            "2023-11-14T17:15:00-05:00"
        );
        let sig = Signature::parse(b"C <c@d> 1700000000 +0130").unwrap();
        assert_eq!(
            date(&sig, DateStyle::Normal),
            "Tue Nov 14 23:43:20 2023 +0130"
        );
    }
}
