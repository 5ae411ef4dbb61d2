//! The repository format a store declares in its `config`: what git would refuse
//! (`core.repositoryformatversion`, `extensions.*`), the object format, and how it keeps
//! its references.

use std::io;

use bstr::ByteSlice;

use super::Error;
use crate::cap::Dir;

/// How a store keeps its references (`extensions.refStorage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RefFormat {
    /// Loose files under `refs/` and `packed-refs`.
    Files,
    /// Tables under `reftable/`.
    Reftable,
    /// A format this version cannot read, with what to say: objects still can be read, so
    /// a revision given as an object id checks out; anything that needs a reference fails
    /// with this.
    Unreadable(String),
}

/// Refuse repository formats whose objects this engine would misread, and say how the
/// store keeps its references.
pub(super) fn check_config(git_dir: &Dir) -> Result<RefFormat, Error> {
    let config = match git_dir.read("config".as_ref()) {
        Ok(config) => config,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(RefFormat::Files),
        Err(source) => {
            return Err(Error::Io {
                path: "config".into(),
                source,
            });
        }
    };
    let mut refs = RefFormat::Files;
    // git's own check (`verify_repository_format`): a format version above 1 is refused,
    // and in version 1 so is an extension git does not know, as the store may then hold
    // data this engine would misread.
    let mut version = 0u32;
    let mut unknown: Option<String> = None;
    let mut section = Vec::new();
    for line in config.lines() {
        let line: Vec<u8> = line
            .iter()
            .filter(|b| !b.is_ascii_whitespace())
            .map(u8::to_ascii_lowercase)
            .collect();
        if line.starts_with(b"[") {
            section = line.clone();
            continue;
        }
        let key = line.split(|&b| b == b'=').next().unwrap_or_default();
        if section == b"[core]" && key == b"repositoryformatversion" {
            version = line[key.len()..]
                .strip_prefix(b"=")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(u32::MAX);
        }
        if section == b"[extensions]"
            && !KNOWN_EXTENSIONS.contains(&key)
            && unknown.is_none()
            && !key.is_empty()
            && !key.starts_with(b"#")
            && !key.starts_with(b";")
        {
            unknown = Some(key.as_bstr().to_string());
        }
        if line.starts_with(b"objectformat=") && line != b"objectformat=sha1" {
            return Err(Error::Unsupported {
                what: format!(
                    "the store uses object format {} (only SHA-1 repositories are supported)",
                    line[13..].as_bstr()
                ),
            });
        }
        if let Some(format) = line.strip_prefix(b"refstorage=") {
            refs = match format {
                b"files" => RefFormat::Files,
                b"reftable" => RefFormat::Reftable,
                other => RefFormat::Unreadable(format!(
                    "the store keeps references in {}, which unfurl cannot read: a revision given by object id checks out with --git none (a .git would need the store's tags); or run `git refs migrate --ref-format=files` in the store",
                    other.as_bstr()
                )),
            };
        }
    }
    if version > 1 {
        return Err(Error::Unsupported {
            what: format!(
                "the store's core.repositoryformatversion is {version}; git and unfurl read versions 0 and 1"
            ),
        });
    }
    if let (1, Some(extension)) = (version, unknown) {
        return Err(Error::Unsupported {
            what: format!(
                "the store uses the repository extension `{extension}`, which unfurl does not know (git refuses such a store too)"
            ),
        });
    }
    Ok(refs)
}

/// The repository extensions git knows (`extensions.*` in a version 1 repository), in
/// lower case as the config is compared.
const KNOWN_EXTENSIONS: &[&[u8]] = &[
    b"noop",
    b"noop-v1",
    b"preciousobjects",
    b"partialclone",
    b"worktreeconfig",
    b"objectformat",
    b"compatobjectformat",
    b"refstorage",
];
