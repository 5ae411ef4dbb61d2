//! Which [`Conversion`] each file gets: git's `convert_attrs` and `output_eol`
//! (`convert.c`), over attributes matched by gix-attributes.
//!
//! Sources, from weakest to strongest, as git orders them for a checkout: the built-in
//! `binary` macro, the root `.gitattributes`, each nested `.gitattributes` (deeper ones
//! win), then the store's `info/attributes`. Macros (`[attr]name …`) count only in the
//! root file and `info/attributes`, as in git.

use std::path::PathBuf;

use bstr::{BStr, BString, ByteSlice};
use gix_attributes::search::{MetadataCollection, Outcome};
use gix_attributes::{Search, StateRef};

use super::classes::Classes;
use super::{AutoCrlf, Conversion, CoreEol, Eol, Options, relevant};

/// The largest attributes file read; a larger one is ignored, as git ignores it
/// (`ATTR_MAX_FILE_SIZE`).
pub(crate) const MAX_FILE_SIZE: u64 = 100 << 20;

/// The attributes a checkout consults, in the order of git's `convert_attrs`.
const NAMES: [&str; 8] = [
    "crlf",
    "ident",
    "eol",
    "text",
    "working-tree-encoding",
    "filter",
    "export-ignore",
    "export-subst",
];

/// What the attributes say of one path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Decision {
    /// The conversion of its content, if any.
    pub(crate) conversion: Option<Conversion>,
    /// `export-ignore`: an archive leaves it out.
    pub(crate) export_ignore: bool,
    /// `export-subst`: an archive expands its `$Format:…$` placeholders.
    pub(crate) export_subst: bool,
    /// `filter=lfs`: its blob may be a Git LFS pointer.
    pub(crate) lfs: bool,
}

/// The attribute rules of one checkout.
pub(crate) struct Rules {
    search: Search,
    collection: MetadataCollection,
    outcome: Outcome,
    options: Options,
    /// Files the rules cannot tell apart, when the patterns allow telling (see
    /// [`Rules::decide_file()`]).
    classes: Option<Classes<Decision>>,
}

/// git's `crlf_action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Undefined,
    Binary,
    Text,
    TextInput,
    TextCrlf,
    Auto,
    AutoInput,
    AutoCrlf,
}

impl Rules {
    /// The rules from `files` (each `.gitattributes` of the tree as its directory's path,
    /// `/`-separated and empty for the root, with its content) and `info` (the store's
    /// `info/attributes`); `None` when no file can need a conversion, so that the plan
    /// stays as it was.
    pub(crate) fn new(
        options: &Options,
        mut files: Vec<(BString, Vec<u8>)>,
        info: Option<Vec<u8>>,
    ) -> Option<Rules> {
        if options.ignore {
            return None;
        }
        // Only the lines that can change what a checkout reads are matched (see
        // `relevant`); without any, and without `core.autocrlf`, no file is converted.
        let keep = {
            let sources: Vec<&[u8]> = files
                .iter()
                .map(|(_, data)| data.as_slice())
                .chain(info.as_deref())
                .collect();
            relevant::names(&NAMES, &sources)
        };
        let mut assigning = 0;
        let mut relevant = |data: &[u8]| {
            let (lines, n) = relevant::filter(data, &keep);
            assigning += n;
            lines
        };
        for (_, data) in &mut files {
            *data = relevant(data);
        }
        let info = info.map(|data| relevant(&data));
        if assigning == 0 && options.autocrlf == AutoCrlf::False {
            return None;
        }
        let classes = Classes::new(
            files
                .iter()
                .map(|(dir, data)| (dir.as_bstr(), data.as_slice()))
                .chain(info.as_deref().map(|info| (BStr::new(""), info))),
        );
        let mut collection = MetadataCollection::default();
        let mut search = Search::new_globals(
            std::iter::empty::<PathBuf>(),
            &mut Vec::new(),
            &mut collection,
        )
        .expect("no files are read");
        // Shallower first: later lists win.
        files.sort_by_key(|(dir, _)| {
            if dir.is_empty() {
                0
            } else {
                1 + dir.find_iter("/").count()
            }
        });
        for (dir, data) in &files {
            let source = if dir.is_empty() {
                PathBuf::from(".gitattributes")
            } else {
                // Lossy: a directory whose name is not UTF-8 gets no base that matches, so
                // its `.gitattributes` applies to nothing (see the README).
                PathBuf::from(format!("{}/.gitattributes", dir.to_str_lossy()))
            };
            // Parsing is lenient, as git's is: a line it cannot read is skipped.
            let _ = search.add_patterns_buffer(
                data,
                source,
                Some("".as_ref()),
                &mut collection,
                dir.is_empty(),
            );
        }
        if let Some(info) = info {
            let _ = search.add_patterns_buffer(
                &info,
                PathBuf::from("info/attributes"),
                None,
                &mut collection,
                true,
            );
        }
        let mut outcome = Outcome::default();
        outcome.initialize_with_selection(&collection, NAMES);
        Some(Rules {
            search,
            collection,
            outcome,
            options: *options,
            classes,
        })
    }

    /// [`Rules::decide()`] for the regular file at `path`, matched once per class of files
    /// the rules cannot tell apart (see `attr::classes`).
    pub(crate) fn decide_file(&mut self, path: &BStr) -> Decision {
        let Some(mut classes) = self.classes.take() else {
            return self.decide(path, false);
        };
        let decision = classes.decide(path, |path| self.decide(path, false));
        self.classes = Some(classes);
        decision
    }

    /// The conversion of the file at `path` (`/`-separated), `None` if it has none.
    #[cfg(test)]
    pub(crate) fn conversion(&mut self, path: &BStr) -> Option<Conversion> {
        self.decide(path, false).conversion
    }

    /// What the attributes say of `path` (`/`-separated), a directory if `is_dir`.
    pub(crate) fn decide(&mut self, path: &BStr, is_dir: bool) -> Decision {
        self.outcome.reset();
        self.search.pattern_matching_relative_path(
            path,
            gix_glob::pattern::Case::Sensitive,
            Some(is_dir),
            &mut self.outcome,
        );
        let mut states: [StateRef<'_>; 8] = [StateRef::Unspecified; 8];
        for (slot, found) in states.iter_mut().zip(self.outcome.iter_selected()) {
            *slot = found.assignment.state;
        }
        let _ = &self.collection;
        let [crlf, ident, eol, text, encoding, filter, ignore, subst] = states;
        let conversion = decide(&self.options, crlf, ident, eol, text, encoding);
        Decision {
            conversion: (!conversion.is_none()).then_some(conversion),
            export_ignore: matches!(ignore, StateRef::Set),
            export_subst: matches!(subst, StateRef::Set),
            lfs: matches!(filter, StateRef::Value(v) if v.as_bstr() == "lfs"),
        }
    }
}

/// git's `git_path_check_crlf`.
fn check_crlf(state: StateRef<'_>) -> Action {
    match state {
        StateRef::Set => Action::Text,
        StateRef::Unset => Action::Binary,
        StateRef::Value(v) if v.as_bstr() == "input" => Action::TextInput,
        StateRef::Value(v) if v.as_bstr() == "auto" => Action::Auto,
        _ => Action::Undefined,
    }
}

/// `convert_attrs`, then what `ident_to_worktree`, `crlf_to_worktree` and
/// `encode_to_worktree` would do.
fn decide(
    options: &Options,
    crlf: StateRef<'_>,
    ident: StateRef<'_>,
    eol: StateRef<'_>,
    text: StateRef<'_>,
    encoding: StateRef<'_>,
) -> Conversion {
    let mut action = check_crlf(text);
    if action == Action::Undefined {
        action = check_crlf(crlf);
    }
    if action != Action::Binary {
        let eol = match eol {
            StateRef::Value(v) if v.as_bstr() == "lf" => Some(false),
            StateRef::Value(v) if v.as_bstr() == "crlf" => Some(true),
            _ => None,
        };
        action = match (action, eol) {
            (Action::Auto, Some(false)) => Action::AutoInput,
            (Action::Auto, Some(true)) => Action::AutoCrlf,
            (_, Some(false)) => Action::TextInput,
            (_, Some(true)) => Action::TextCrlf,
            (action, None) => action,
        };
    }
    let text_eol_is_crlf = match options.autocrlf {
        AutoCrlf::True => true,
        AutoCrlf::Input => false,
        AutoCrlf::False => match options.eol {
            CoreEol::Lf => false,
            CoreEol::Crlf => true,
            CoreEol::Native => cfg!(windows),
        },
    };
    if action == Action::Text {
        action = if text_eol_is_crlf {
            Action::TextCrlf
        } else {
            Action::TextInput
        };
    }
    if action == Action::Undefined {
        action = match options.autocrlf {
            AutoCrlf::False => Action::Binary,
            AutoCrlf::True => Action::AutoCrlf,
            AutoCrlf::Input => Action::AutoInput,
        };
    }
    // `output_eol`: only CRLF output changes anything on the way to the work tree.
    let eol = match action {
        Action::Binary | Action::TextInput | Action::AutoInput | Action::Undefined => Eol::Keep,
        Action::TextCrlf => Eol::Crlf,
        Action::AutoCrlf => Eol::AutoCrlf,
        Action::Text if text_eol_is_crlf => Eol::Crlf,
        Action::Auto if text_eol_is_crlf => Eol::AutoCrlf,
        Action::Text | Action::Auto => Eol::Keep,
    };
    // `git_path_check_encoding`: a value, and not UTF-8 itself.
    let encoding = match encoding {
        StateRef::Value(v) => {
            let name = v.as_bstr().to_str_lossy().into_owned();
            let plain = name.to_ascii_uppercase().replace(['-', '_'], "");
            (plain != "UTF8").then_some(name)
        }
        _ => None,
    };
    Conversion {
        ident: matches!(ident, StateRef::Set),
        eol,
        encoding,
        replace: None,
        lfs: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(options: Options, files: &[(&str, &str)], info: Option<&str>) -> Rules {
        let files = files
            .iter()
            .map(|(dir, data)| (BString::from(*dir), data.as_bytes().to_vec()))
            .collect();
        Rules::new(&options, files, info.map(|i| i.as_bytes().to_vec())).expect("rules")
    }

    fn eol_of(rules: &mut Rules, path: &str) -> Eol {
        rules.conversion(path.into()).map_or(Eol::Keep, |c| c.eol)
    }

    /// Classes of files (see `attr::classes`) give every file the decision matching it
    /// alone gives, with nested sources, `info/attributes`, macros, names that are whole
    /// patterns, and patterns holding a `/` of several shapes; with a `**/` pattern (which
    /// makes every path its own class) too.
    #[test]
    fn a_files_class_decides_as_matching_it_alone() {
        let root = "* text=auto eol=lf\n[attr]crlfy text eol=crlf\n*.bat crlfy\n*.c.src text\n\
                    *.png binary\nMakefile -text\n./doc/*.txt eol=crlf\nlib/one.c -text\n\
                    /top.c eol=crlf\nbuild/ -text\n*.sh text eol=lf\n";
        let sub = "*.c eol=crlf\n*.py -text\ninner/*.c text eol=lf\n";
        let info = "*.md eol=crlf\n";
        let paths = [
            "a.c",
            "b.c",
            "x/a.c",
            "x.bat",
            "y/z.bat",
            "k.c.src",
            "d/k.c.src",
            ".c.src",
            "p.png",
            "q/p.png",
            "Makefile",
            "m/Makefile",
            "Makefile.am",
            "doc/a.txt",
            "doc/x/a.txt",
            "a.txt",
            "lib/one.c",
            "lib/two.c",
            "gen/a.c",
            "q/gen/b.c",
            "top.c",
            "x/top.c",
            "build/x.c",
            "s.sh",
            "sub/a.c",
            "sub/a.py",
            "sub/inner/a.c",
            "sub/inner/deep/a.c",
            "subx/a.c",
            "README.md",
            "x/README.md",
            "noext",
            ".hidden",
        ];
        for root in [root.to_owned(), format!("{root}**/gen/*.c -text\n")] {
            let sources = [("", root.as_str()), ("sub", sub)];
            let mut classed = rules(Options::default(), &sources, Some(info));
            assert!(
                classed.classes.is_some(),
                "patterns simple enough for classes"
            );
            let mut alone = rules(Options::default(), &sources, Some(info));
            alone.classes = None;
            // Twice over, so that the second round is answered from the classes.
            for path in paths.iter().chain(paths.iter()) {
                assert_eq!(
                    classed.decide_file(path.as_bytes().as_bstr()),
                    alone.decide(path.as_bytes().as_bstr(), false),
                    "{path}"
                );
            }
        }
    }

    #[test]
    fn nothing_to_apply_gives_no_rules() {
        assert!(Rules::new(&Options::default(), Vec::new(), None).is_none());
        let ignore = Options {
            ignore: true,
            autocrlf: AutoCrlf::True,
            ..Options::default()
        };
        assert!(Rules::new(&ignore, vec![("".into(), b"* text".to_vec())], None).is_none());
    }

    #[test]
    fn deeper_files_and_info_attributes_win() {
        let mut r = rules(
            Options::default(),
            &[
                ("a", "*.txt -text\n"),
                ("", "*.txt text eol=crlf\n*.md text eol=crlf\n"),
            ],
            Some("*.md -text\n"),
        );
        assert_eq!(eol_of(&mut r, "x.txt"), Eol::Crlf, "root rule");
        assert_eq!(eol_of(&mut r, "a/x.txt"), Eol::Keep, "nested -text wins");
        assert_eq!(
            eol_of(&mut r, "a/b/x.txt"),
            Eol::Keep,
            "nested applies below"
        );
        assert_eq!(eol_of(&mut r, "x.md"), Eol::Keep, "info/attributes wins");
    }

    #[test]
    fn macros_count_only_at_the_root() {
        let mut r = rules(
            Options::default(),
            &[
                ("", "[attr]win text eol=crlf\n*.a win\n"),
                ("d", "[attr]other text eol=crlf\n*.b other\n"),
            ],
            None,
        );
        assert_eq!(eol_of(&mut r, "x.a"), Eol::Crlf, "root macro");
        assert_eq!(eol_of(&mut r, "d/x.b"), Eol::Keep, "nested macro ignored");
    }

    #[test]
    fn git_settings_decide_text_without_eol() {
        let files = [("", "*.t text\n*.auto text=auto\n*.bin binary\n")];
        let mut plain = rules(Options::default(), &files, None);
        assert_eq!(eol_of(&mut plain, "a.t"), Eol::Keep);
        assert_eq!(eol_of(&mut plain, "a.other"), Eol::Keep);
        let mut crlf = rules(
            Options {
                eol: CoreEol::Crlf,
                ..Options::default()
            },
            &files,
            None,
        );
        assert_eq!(eol_of(&mut crlf, "a.t"), Eol::Crlf);
        assert_eq!(eol_of(&mut crlf, "a.auto"), Eol::AutoCrlf);
        assert_eq!(
            eol_of(&mut crlf, "a.other"),
            Eol::Keep,
            "core.eol needs an attribute"
        );
        let mut auto = rules(
            Options {
                autocrlf: AutoCrlf::True,
                ..Options::default()
            },
            &files,
            None,
        );
        assert_eq!(eol_of(&mut auto, "a.other"), Eol::AutoCrlf);
        assert_eq!(eol_of(&mut auto, "a.bin"), Eol::Keep, "binary stays");
    }

    #[test]
    fn ident_and_encoding_are_read() {
        let mut r = rules(
            Options::default(),
            &[(
                "",
                "*.i ident\n*.u working-tree-encoding=UTF-16LE\n*.8 working-tree-encoding=utf-8\n",
            )],
            None,
        );
        let i = r.conversion("a.i".into()).expect("ident");
        assert!(i.ident, "ident set, got {i:?}");
        let u = r.conversion("a.u".into()).expect("encoding");
        assert_eq!(u.encoding.as_deref(), Some("UTF-16LE"));
        assert_eq!(r.conversion("a.8".into()), None, "UTF-8 is no conversion");
    }
}
