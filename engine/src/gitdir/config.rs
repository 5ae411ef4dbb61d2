//! The checkout's `.git/config`: written from what the filesystem can do and the options,
//! and read back (by a switch in place and by `verify`) for how the checkout was written.

use bstr::ByteSlice;

use super::{Capabilities, Options};
use crate::attr::{self, AutoCrlf, CoreEol};

/// The repository's `config`: what the filesystem can do, how files were converted, where
/// the store is, and the submodules checked out within.
pub(super) fn text(options: &Options, capabilities: Capabilities) -> String {
    let mut config = String::from("[core]\n\trepositoryformatversion = 0\n\tbare = false\n");
    config.push_str(&format!(
        "\tfilemode = {}\n\tsymlinks = {}\n\tignorecase = {}\n\tlogallrefupdates = true\n",
        capabilities.filemode, capabilities.symlinks, capabilities.ignorecase
    ));
    match options.line_endings.autocrlf {
        AutoCrlf::False => {}
        AutoCrlf::True => config.push_str("\tautocrlf = true\n"),
        AutoCrlf::Input => config.push_str("\tautocrlf = input\n"),
    }
    match options.line_endings.eol {
        CoreEol::Lf => {}
        CoreEol::Crlf => config.push_str("\teol = crlf\n"),
        CoreEol::Native => config.push_str("\teol = native\n"),
    }
    if options.line_endings.lfs_pointers {
        // unfurl's own: git ignores a section it does not know.
        config.push_str("[unfurl]\n\tlfsPointers = true\n");
    }
    if let Some(url) = &options.origin {
        config.push_str(&format!(
            "[remote \"origin\"]\n\turl = \"{}\"\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n",
            quoted(url)
        ));
    }
    for (name, url) in &options.submodules {
        config.push_str(&format!(
            "[submodule \"{}\"]\n\tactive = true\n\turl = \"{}\"\n",
            quoted(&name.to_str_lossy()),
            quoted(url)
        ));
    }
    config
}

/// `text` for the inside of a quoted config value or subsection: `\\` and `\"` escaped (a
/// submodule's name and URL hold no control character: they were validated).
pub(super) fn quoted(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// How a checkout was written, as its `.git/config` records it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded {
    /// `core.filemode`, `core.symlinks` and `core.ignorecase`; git's defaults (exec bits and
    /// symlinks kept, case sensitive) for what it does not say.
    pub capabilities: Capabilities,
    /// How files were converted: `core.autocrlf` and `core.eol` (what `-c` gave the
    /// checkout), and whether Git LFS pointers were written as stored (`--lfs pointers`,
    /// recorded as `unfurl.lfsPointers`); the defaults for what it does not say.
    pub line_endings: attr::Options,
}

/// Read the `[core]` (and `[unfurl]`) settings a checkout writes back from `config`, its
/// `.git/config`. A value unfurl never writes leaves the setting at its default.
pub fn recorded(config: &[u8]) -> Recorded {
    let mut recorded = Recorded::default();
    let mut in_core = false;
    let mut in_unfurl = false;
    for line in config.split(|&b| b == b'\n') {
        let line: Vec<u8> = line
            .iter()
            .filter(|b| !b.is_ascii_whitespace())
            .map(u8::to_ascii_lowercase)
            .collect();
        if line.starts_with(b"[") {
            in_core = line == b"[core]";
            in_unfurl = line == b"[unfurl]";
            continue;
        }
        if in_unfurl {
            if line == b"lfspointers=true" {
                recorded.line_endings.lfs_pointers = true;
            }
            continue;
        }
        if !in_core {
            continue;
        }
        let Some((key, value)) = line.split_once_str("=") else {
            continue;
        };
        let flag = match value {
            b"true" => Some(true),
            b"false" => Some(false),
            _ => None,
        };
        let (capabilities, endings) = (&mut recorded.capabilities, &mut recorded.line_endings);
        match (key, value, flag) {
            (b"filemode", _, Some(flag)) => capabilities.filemode = flag,
            (b"symlinks", _, Some(flag)) => capabilities.symlinks = flag,
            (b"ignorecase", _, Some(flag)) => capabilities.ignorecase = flag,
            (b"autocrlf", b"input", _) => endings.autocrlf = AutoCrlf::Input,
            (b"autocrlf", _, Some(true)) => endings.autocrlf = AutoCrlf::True,
            (b"autocrlf", _, Some(false)) => endings.autocrlf = AutoCrlf::False,
            (b"eol", b"crlf", _) => endings.eol = CoreEol::Crlf,
            (b"eol", b"native", _) => endings.eol = CoreEol::Native,
            (b"eol", b"lf", _) => endings.eol = CoreEol::Lf,
            _ => {}
        }
    }
    recorded
}

/// The submodules `config` records as `submodule.<name>.url` (what a checkout with
/// `--recurse-submodules` wrote), by name, in order; none if it does not parse.
pub fn recorded_submodules(config: &[u8]) -> Vec<(bstr::BString, String)> {
    let Ok(entries) = crate::submodule::config::parse(config) else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter(|e| {
            e.section.eq_ignore_ascii_case(b"submodule") && e.key.eq_ignore_ascii_case(b"url")
        })
        .filter_map(|e| Some((e.subsection?, e.value?.to_str().ok()?.to_owned())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back() {
        for (filemode, symlinks, autocrlf, eol, lfs_pointers) in [
            (true, true, AutoCrlf::False, CoreEol::Lf, false),
            (false, false, AutoCrlf::True, CoreEol::Crlf, true),
            (true, false, AutoCrlf::Input, CoreEol::Native, false),
        ] {
            let capabilities = Capabilities {
                filemode,
                symlinks,
                ignorecase: !filemode,
            };
            let mut options = Options::default();
            options.line_endings.autocrlf = autocrlf;
            options.line_endings.eol = eol;
            options.line_endings.lfs_pointers = lfs_pointers;
            options.origin = Some("/store [core] autocrlf = true".into());
            let read = recorded(text(&options, capabilities).as_bytes());
            assert_eq!(read.capabilities, capabilities);
            assert_eq!(read.line_endings, options.line_endings);
        }
        let options = Options {
            submodules: vec![
                ("libs/mid".into(), "../mid.git".into()),
                (
                    "odd \"name\" \\ here".into(),
                    "C:\\stores\\a \"b\".git".into(),
                ),
            ],
            ..Options::default()
        };
        let written = text(&options, Capabilities::default());
        assert_eq!(recorded_submodules(written.as_bytes()), options.submodules);
        // Another section's keys are not core's.
        let other = recorded(b"[core]\n\tfilemode = false\n[x]\n\tsymlinks = false\n");
        assert!(!other.capabilities.filemode && other.capabilities.symlinks);
    }
}
