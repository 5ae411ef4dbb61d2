//! `.gitmodules`: the submodules a commit declares, validated as git validates them.

use bstr::{BStr, BString, ByteSlice};

use super::{Error, config};

/// One `[submodule "NAME"]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Declared {
    pub(super) name: BString,
    pub(super) path: Option<BString>,
    pub(super) url: Option<BString>,
    /// `update = none`.
    pub(super) skipped: bool,
}

/// The submodules `text` declares, in order of first appearance; for each key the first
/// value counts, as git keeps the first for a `.gitmodules` read from a commit. `file` is
/// where the `.gitmodules` is, for messages.
pub(super) fn declared(text: &[u8], file: &BStr) -> Result<Vec<Declared>, Error> {
    let entries = config::parse(text).map_err(|e| Error::Gitmodules {
        path: file.to_owned(),
        line: e.line,
        what: e.what,
    })?;
    let mut out: Vec<Declared> = Vec::new();
    for entry in &entries {
        if entry.section != "submodule" {
            continue;
        }
        let Some(name) = &entry.subsection else {
            continue;
        };
        check_name(name.as_ref()).map_err(|reason| Error::BadName {
            path: file.to_owned(),
            name: name.clone(),
            reason,
        })?;
        let index = match out.iter().position(|d| d.name == *name) {
            Some(i) => i,
            None => {
                out.push(Declared {
                    name: name.clone(),
                    path: None,
                    url: None,
                    skipped: false,
                });
                out.len() - 1
            }
        };
        let declared = &mut out[index];
        let Some(value) = &entry.value else {
            continue;
        };
        match entry.key.as_slice() {
            b"path" if declared.path.is_none() => declared.path = Some(value.clone()),
            b"url" if declared.url.is_none() => declared.url = Some(value.clone()),
            b"update" => declared.skipped = value == "none",
            _ => {}
        }
    }
    Ok(out)
}

/// The `.gitmodules` at the root of `tree` in `store`: `None` if there is none (or it is not
/// a file, which git ignores); refused if it is a symlink (git refuses one) or larger than
/// [`MAX_GITMODULES`](super::MAX_GITMODULES).
pub(crate) fn read(
    store: &crate::store::Store,
    tree: gix_hash::ObjectId,
) -> Result<Option<Vec<u8>>, crate::Error> {
    let mut reader = store.odb().reader(1 << 20);
    let (_, data) = reader
        .read_shared(&tree)
        .map_err(crate::plan::Error::from)?;
    let refuse = |reason| Error::GitmodulesFile {
        path: ".gitmodules".into(),
        reason,
    };
    for entry in gix_object::TreeRefIter::from_bytes(&data, gix_hash::Kind::Sha1) {
        let Ok(entry) = entry else {
            // The walk reports a malformed tree with its path.
            return Ok(None);
        };
        if entry.filename != ".gitmodules" {
            continue;
        }
        if entry.mode.is_link() {
            return Err(refuse("it is a symlink").into());
        }
        if !entry.mode.is_blob() {
            return Ok(None);
        }
        let (_, size) = reader.header(entry.oid).map_err(crate::plan::Error::from)?;
        if size > super::MAX_GITMODULES {
            return Err(refuse("it is larger than 1 MiB").into());
        }
        let (_, text) = reader
            .read_shared(entry.oid)
            .map_err(crate::plan::Error::from)?;
        return Ok(Some(text.to_vec()));
    }
    Ok(None)
}

/// git's `check_submodule_name`: not empty, and no `..` component with either separator
/// (the name becomes a path under `.git/modules/`).
fn check_name(name: &BStr) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name.split(|&b| b == b'/' || b == b'\\').any(|c| c == b"..") {
        return Err("it has a `..` component, which could escape .git/modules");
    }
    if name.iter().any(|b| b.is_ascii_control()) {
        return Err("it holds a control character");
    }
    Ok(())
}

/// git's checks on a submodule URL from `.gitmodules`: it must not look like an option
/// (CVE-2018-17456) nor hold a control character (CVE-2020-5260), and it must be UTF-8
/// here, where it is looked up as text.
pub(super) fn check_url(url: &BStr) -> Result<&str, &'static str> {
    let url = url.to_str().map_err(|_| "it is not UTF-8")?;
    if url.is_empty() {
        return Err("it is empty");
    }
    if url.starts_with('-') {
        return Err("it starts with `-`, as an option would");
    }
    if url.chars().any(char::is_control) {
        return Err("it holds a control character");
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_paths_urls_and_update_none_are_read() {
        let text = b"[submodule \"lib/a\"]\n\tpath = lib/a\n\turl = ../a.git\n\
            [submodule \"b\"]\n\tpath = b\n\turl = /srv/b\n\tupdate = none\n\
            [submodule \"lib/a\"]\n\tpath = elsewhere\n";
        let got = declared(text, ".gitmodules".into()).expect("valid");
        assert_eq!(got.len(), 2, "two names: {got:?}");
        assert_eq!(
            (got[0].path.as_ref().unwrap(), got[0].skipped),
            (&BString::from("lib/a"), false),
            "the first path counts"
        );
        assert!(got[1].skipped, "update = none");
    }

    #[test]
    fn hostile_names_are_refused() {
        for name in ["..", "../../hooks", "a/../../b", "a\\\\..\\\\b", ""] {
            let text = format!("[submodule \"{name}\"]\n\tpath = x\n");
            let err = declared(text.as_bytes(), ".gitmodules".into()).expect_err(name);
            assert!(
                matches!(err, Error::BadName { .. }),
                "expected {name:?} refused, got {err:?}"
            );
        }
        for url in ["-upload-pack=evil", "a\nb", ""] {
            assert!(check_url(url.into()).is_err(), "expected {url:?} refused");
        }
    }
}
