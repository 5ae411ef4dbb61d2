//! Files the attribute rules cannot tell apart, decided once per class.
//!
//! Matching a path against the rules costs a test of every pattern above it: numpy's root
//! `.gitattributes` has about 70 patterns that a checkout consults, most of them `*.ext`,
//! with `* text=auto eol=lf` first (matched last), so each of its 2 370 files took about
//! 70 glob matches, 4 ms of the plan, before any file was written. But two files in
//! directories below the same `.gitattributes` files, that no pattern holding a `/` can
//! match, are told apart only by their names; and a name meets `*.py` by its ending. So
//! each file is put in a class (which `.gitattributes` apply, and for each pattern of the
//! form `*literal` or `literal`, whether the name ends with or is the literal), and each
//! class is matched once.
//!
//! Correctness rests on the classes being no coarser than the matching: two names in one
//! class meet every name pattern alike. So classes are used only when every pattern that
//! can apply to a file's name is of those two simple forms; any other (`README*`,
//! `*.[ch]`, `?`, escapes, quotes, `**`) turns classes off for the whole checkout. A path
//! that a pattern holding a `/` might match (it begins with the pattern's literal
//! directories, taken generously: a leading `/` or `./` dropped, anything odd in them
//! making the whole directory of that `.gitattributes` qualify) is matched on its own.

use std::collections::HashMap;

use bstr::{BStr, BString, ByteSlice};

use super::relevant::words;

/// A test of a file's name, for a pattern without a `/`.
enum Test {
    /// `*literal`: the name ends with it (and is it, or longer).
    Suffix(BString),
    /// `literal`: the name is it.
    Exact(BString),
}

/// How a file's path may be matched by the patterns that hold a `/`.
enum Slashed {
    /// Paths beginning with this may be matched.
    Prefix(BString),
    /// Only this path may be matched.
    Path(BString),
}

/// The classes of one checkout's rules, and the decision of each class met so far.
pub(super) struct Classes<T> {
    /// The directories of the sources, `/`-separated, empty for the root (and for
    /// `info/attributes`, which applies everywhere).
    dirs: Vec<BString>,
    tests: Vec<Test>,
    slashed: Vec<Slashed>,
    decided: HashMap<(u64, Vec<u8>), T>,
}

/// Characters that make a pattern more than a literal.
fn is_special(b: u8) -> bool {
    matches!(b, b'*' | b'?' | b'[' | b'\\')
}

impl<T: Clone> Classes<T> {
    /// The classes of `sources` (each source's directory and its lines, as the rules read
    /// them); `None` when some pattern is not simple enough for classes to be sound, or
    /// there are too many sources to track.
    pub(super) fn new<'a>(sources: impl IntoIterator<Item = (&'a BStr, &'a [u8])>) -> Option<Self> {
        let mut classes = Classes {
            dirs: Vec::new(),
            tests: Vec::new(),
            slashed: Vec::new(),
            decided: HashMap::new(),
        };
        for (dir, data) in sources {
            classes.dirs.push(dir.to_owned());
            for line in data.split(|&b| b == b'\n') {
                let Some(pattern) = words(line).next() else {
                    continue;
                };
                if pattern.starts_with(b"#") || pattern.starts_with(b"[attr]") {
                    continue;
                }
                if pattern.starts_with(b"\"") || pattern.starts_with(b"!") {
                    return None;
                }
                if pattern.contains(&b'/') {
                    classes.slashed.push(slashed(dir, pattern));
                    continue;
                }
                let test = match pattern.strip_prefix(b"*") {
                    Some(rest) if !rest.iter().copied().any(is_special) => {
                        Test::Suffix(rest.into())
                    }
                    None if !pattern.iter().copied().any(is_special) => Test::Exact(pattern.into()),
                    _ => return None,
                };
                classes.tests.push(test);
            }
        }
        (classes.dirs.len() <= 64).then_some(classes)
    }

    /// The decision for the file at `path`, from its class's, or from `decide` (for the
    /// class, or for this path alone when a pattern holding a `/` may match it).
    pub(super) fn decide(&mut self, path: &BStr, decide: impl FnOnce(&BStr) -> T) -> T {
        let alone = self.slashed.iter().any(|s| match s {
            Slashed::Prefix(prefix) => path.starts_with(prefix),
            Slashed::Path(only) => path == only,
        });
        if alone {
            return decide(path);
        }
        let name = path.rsplit_str("/").next().unwrap_or_default();
        let mut sources = 0u64;
        for (i, dir) in self.dirs.iter().enumerate() {
            let below =
                dir.is_empty() || (path.starts_with(dir) && path.get(dir.len()) == Some(&b'/'));
            sources |= u64::from(below) << i;
        }
        let tests = self
            .tests
            .iter()
            .map(|test| match test {
                Test::Suffix(end) if name == end => 2,
                Test::Suffix(end) => u8::from(name.ends_with(end)),
                Test::Exact(whole) => u8::from(name == whole),
            })
            .collect();
        self.decided
            .entry((sources, tests))
            .or_insert_with(|| decide(path))
            .clone()
    }
}

/// Which paths the pattern `pattern` (holding a `/`) of the source in `dir` may match.
fn slashed(dir: &BStr, pattern: &[u8]) -> Slashed {
    let mut rest = pattern;
    // Generously: as if a leading `/` or `./` meant the source's directory.
    loop {
        if let Some(r) = rest.strip_prefix(b"/") {
            rest = r;
        } else if let Some(r) = rest.strip_prefix(b"./") {
            rest = r;
        } else {
            break;
        }
    }
    let join = |tail: &[u8]| {
        let mut path = BString::from(dir);
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(tail);
        path
    };
    let odd = rest.is_empty()
        || rest.starts_with(b"../")
        || rest.find(b"//").is_some()
        || rest.find(b"/./").is_some()
        || rest.find(b"/../").is_some();
    let literal = rest.iter().take_while(|&&b| !is_special(b)).count();
    if !odd && literal == rest.len() && !rest.ends_with(b"/") {
        return Slashed::Path(join(rest));
    }
    // The literal directories before the first special character: every path below them.
    let dirs = match (odd, rest[..literal].rfind_byte(b'/')) {
        (false, Some(end)) => &rest[..=end],
        _ => &b""[..],
    };
    Slashed::Prefix(if dirs.is_empty() {
        // Anything below the source's directory (all paths, for the root's).
        match dir.is_empty() {
            true => BString::default(),
            false => join(b""),
        }
    } else {
        join(dirs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(sources: &[(&str, &str)]) -> Option<Classes<String>> {
        Classes::new(
            sources
                .iter()
                .map(|(d, s)| (d.as_bytes().as_bstr(), s.as_bytes())),
        )
    }

    /// Decide `paths` through `classes`, where deciding a path directly answers its own
    /// name; returns the paths decided directly, and the answer each path got.
    fn decided(classes: &mut Classes<String>, paths: &[&str]) -> (Vec<String>, Vec<String>) {
        let mut direct = Vec::new();
        let mut answers = Vec::new();
        for path in paths {
            answers.push(classes.decide(path.as_bytes().as_bstr(), |p| {
                direct.push(p.to_string());
                p.to_string()
            }));
        }
        (direct, answers)
    }

    /// [`decided()`], the paths decided directly only.
    fn run(classes: &mut Classes<String>, paths: &[&str]) -> Vec<String> {
        decided(classes, paths).0
    }

    #[test]
    fn names_with_the_same_endings_share_a_decision() {
        let mut c = classes(&[(
            "",
            "* text=auto\n*.py text\n*.bat eol=crlf\nMakefile -text\n",
        )])
        .expect("simple patterns");
        let direct = run(
            &mut c,
            &[
                "a.py",
                "x/b.py",
                "y/z/c.py",
                "d.bat",
                "e.txt",
                "f.md",
                "x/Makefile",
                "Makefile",
                ".py",
                "py",
            ],
        );
        // One decision per class: `.py` files; `.bat`; names with neither (e.txt, f.md,
        // py); `Makefile`; and the name that is exactly `.py`.
        assert_eq!(direct, ["a.py", "d.bat", "e.txt", "x/Makefile", ".py"]);
        // Every other path gets its class's decision.
        let (_, answers) = decided(&mut c, &["z/q.py", "w.bat", "g.rs", "Makefile", ".py"]);
        assert_eq!(answers, ["a.py", "d.bat", "e.txt", "x/Makefile", ".py"]);
    }

    #[test]
    fn nested_sources_and_slashed_patterns_split_classes() {
        let mut c = classes(&[
            ("", "*.c text\n./src/gen/*.c -text\nlib/only.c eol=crlf\n"),
            ("sub", "*.c eol=crlf\n"),
        ])
        .expect("simple patterns");
        let direct = run(
            &mut c,
            &[
                "a.c",
                "src/b.c",
                "src/gen/c.c",
                "src/gen/d.c",
                "lib/only.c",
                "lib/other.c",
                "sub/e.c",
                "sub/deeper/f.c",
                "subway/g.c",
            ],
        );
        assert_eq!(
            direct,
            [
                "a.c",
                // Below `src/gen/` (from `./src/gen/*.c`): each on its own.
                "src/gen/c.c",
                "src/gen/d.c",
                // The one path `lib/only.c` names.
                "lib/only.c",
                // Below `sub/`, whose own file applies: another class.
                "sub/e.c",
            ]
        );
    }

    #[test]
    fn complex_patterns_turn_classes_off() {
        for source in [
            "README* text\n",
            "*.[ch] text\n",
            "a?c text\n",
            "**.c text\n",
            "\"a b\" text\n",
            "a\\*b text\n",
            "*.c* text\n",
        ] {
            assert!(classes(&[("", source)]).is_none(), "{source:?}");
        }
        // Comments, macros and slashed patterns of any shape do not.
        assert!(classes(&[("", "# x\n[attr]m text\n**/x/*.c text\n*.c m\n")]).is_some());
    }

    #[test]
    fn odd_slashed_patterns_cover_their_whole_directory() {
        let mut c = classes(&[("d", "../x/*.c text\n*.c eol=crlf\n")]).expect("simple");
        let direct = run(&mut c, &["d/a.c", "d/e/b.c", "c.c", "x/c.c", "x/d.c"]);
        assert_eq!(direct, ["d/a.c", "d/e/b.c", "c.c"]);
    }
}
