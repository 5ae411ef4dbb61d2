//! Content as the repository declares it: line endings, `ident` and
//! `working-tree-encoding`, decided from `.gitattributes` the way `git checkout` decides.
//!
//! The decision is the planner's (`Rules`, in `decide`): it reads the tree's
//! `.gitattributes` files at the commit and the store's `info/attributes`, and gives each
//! file that needs one a [`Conversion`], which travels in the plan (and so to sandboxed
//! writers). The writers apply it (`convert`), streaming where the conversion allows.
//!
//! The user's git configuration is never read: the same commit gives the same bytes on
//! every machine. [`Options`] carries the two settings a caller may opt in to, git's
//! `core.autocrlf` and `core.eol`.
//!
//! Filter drivers (`filter=…` with a `filter.<name>.smudge` command in some configuration)
//! are never run: the command would come from the store's configuration, and running it is
//! how a hostile store would get code execution on the machine checking it out. A file
//! with a `filter` attribute is written as git writes it when the driver is not
//! configured: with its other conversions only.

mod classes;
mod convert;
mod decide;
mod relevant;
#[cfg(not(target_os = "wasi"))]
mod written;

pub(crate) use convert::write_converted;
pub(crate) use decide::{Decision, MAX_FILE_SIZE, Rules};
#[cfg(not(target_os = "wasi"))]
pub(crate) use written::is_written_form;

/// git's `core.autocrlf`, as a caller opts in to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum AutoCrlf {
    /// `false`: only attributes convert line endings. The default.
    #[default]
    False,
    /// `true`: files without a `text` attribute that look like text get CRLF line endings,
    /// and so do `text` files without an `eol`.
    True,
    /// `input`: nothing gets CRLF unless its attributes say `eol=crlf`.
    Input,
}

/// git's `core.eol`: the line ending of `text` files that have no `eol` attribute (when
/// `core.autocrlf` is not `true` or `input`, which take precedence).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum CoreEol {
    /// LF. The default, on every platform (git's default, `native`, would make the bytes
    /// depend on the machine).
    #[default]
    Lf,
    /// CRLF.
    Crlf,
    /// The platform's: CRLF on Windows, LF elsewhere.
    Native,
}

/// The git settings that decide how attributes apply. The default is git's behaviour with
/// no configuration at all on Linux: what the repository declares, and nothing else.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Options {
    /// git's `core.autocrlf`. Default: [`AutoCrlf::False`].
    #[cfg_attr(feature = "serde", serde(default))]
    pub autocrlf: AutoCrlf,
    /// git's `core.eol`. Default: [`CoreEol::Lf`].
    #[cfg_attr(feature = "serde", serde(default))]
    pub eol: CoreEol,
    /// Apply no attributes at all: every file is written as stored, as before attributes
    /// were supported. Default: `false`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub ignore: bool,
    /// Write Git LFS pointers as stored, as `GIT_LFS_SKIP_SMUDGE=1` does, instead of the
    /// objects they name. Default: `false` (the objects, see [`crate::lfs`]).
    #[cfg_attr(feature = "serde", serde(default))]
    pub lfs_pointers: bool,
}

/// Which of the settings in [`Options`] that decide how files are written a caller gave for
/// this run (`-c core.autocrlf=…`, `-c core.eol=…`, `--lfs`), as opposed to leaving them at
/// their defaults.
///
/// It matters only when a checkout is switched in place: a setting not given, and at its
/// default, is taken from what the checkout's `.git/config` records (what it was made
/// with), so the files a switch writes are converted as the others were. A setting given
/// is used as it is, even when it equals the default (`-c core.autocrlf=false` on a
/// checkout made with `true`). A setting that differs from its default counts as given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Given {
    /// `core.autocrlf` was given. Default: `false`.
    pub autocrlf: bool,
    /// `core.eol` was given. Default: `false`.
    pub eol: bool,
    /// How Git LFS files are written was given (`--lfs`). Default: `false`.
    pub lfs_pointers: bool,
}

/// What a writer does to one file's blob on its way to the file, in git's order: `ident`,
/// then line endings, then the encoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Conversion {
    /// Expand `$Id$` to `$Id: <blob id> $` (the `ident` attribute).
    #[cfg_attr(feature = "serde", serde(default))]
    pub ident: bool,
    /// How line endings change.
    #[cfg_attr(feature = "serde", serde(default))]
    pub eol: Eol,
    /// Re-encode the UTF-8 content in this encoding (`working-tree-encoding`), as git
    /// spells it; never UTF-8 itself.
    #[cfg_attr(feature = "serde", serde(default))]
    pub encoding: Option<String>,
    /// The file's whole content, already converted, instead of the blob's: what the
    /// planner made of an `export-subst` file for an archive.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub replace: Option<Vec<u8>>,
    /// Write the Git LFS object this pointer names instead of the blob (`filter=lfs`
    /// with a valid pointer; see [`crate::lfs`]). Other conversions do not apply then.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub lfs: Option<crate::lfs::Pointer>,
}

impl Conversion {
    /// Whether it changes nothing.
    pub fn is_none(&self) -> bool {
        !self.ident
            && self.eol == Eol::Keep
            && self.encoding.is_none()
            && self.replace.is_none()
            && self.lfs.is_none()
    }
}

/// How a file's line endings change on the way out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum Eol {
    /// As stored.
    #[default]
    Keep,
    /// Every LF not preceded by CR becomes CRLF (`text` with CRLF output).
    Crlf,
    /// As [`Eol::Crlf`], but only if the content looks like text and has no CR at all
    /// (`text=auto`, or `core.autocrlf=true` without attributes): git's check, which
    /// needs the whole blob, so the blob is read twice, streamed both times.
    AutoCrlf,
}
