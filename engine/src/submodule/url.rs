//! Submodule URLs: relative ones resolved against the superproject's, as git resolves them,
//! and the key under which a directory of stores keeps the store for a URL.

/// `url` as git resolves it for a submodule whose superproject's URL is `base`: a URL
/// starting with `./` or `../` is relative to `base` (git's `relative_url`: each `../`
/// drops one component of `base`, after a `/` or, for `host:path`, a `:`); any other is
/// used as it is. `None` when `url` is relative and there is no `base`, or `base` has no
/// component left to drop.
pub fn resolve(url: &str, base: Option<&str>) -> Option<String> {
    if !is_relative(url) {
        return Some(url.to_owned());
    }
    let mut remote = base?.trim_end_matches('/').to_owned();
    // A relative base (`foo`, not `./foo`) is a path too: git prefixes it with `./`.
    let base_is_path = !remote.contains(':') && !remote.starts_with('/');
    if base_is_path && !remote.starts_with("./") && !remote.starts_with("../") {
        remote.insert_str(0, "./");
    }
    let mut rest = url;
    let mut colon = false;
    loop {
        if let Some(r) = rest.strip_prefix("../") {
            rest = r;
            colon |= chop_last(&mut remote, base_is_path)?;
        } else if let Some(r) = rest.strip_prefix("./") {
            rest = r;
        } else {
            break;
        }
    }
    let rest = rest.trim_end_matches('/');
    let sep = if colon { ":" } else { "/" };
    let joined = format!("{remote}{sep}{rest}");
    Some(
        joined
            .strip_prefix("./")
            .map_or(joined.clone(), str::to_owned),
    )
}

/// Whether `url` is relative to the superproject's.
pub fn is_relative(url: &str) -> bool {
    url.starts_with("./") || url.starts_with("../")
}

/// Drop the last component of `remote`: `Some(true)` if it followed a `:` (so the result
/// joins with `:`), `None` if nothing is left to drop.
fn chop_last(remote: &mut String, base_is_path: bool) -> Option<bool> {
    if let Some(slash) = remote.rfind('/') {
        if base_is_path && matches!(&remote[slash + 1..], "." | "..") {
            // `./..` or `../..`: going up past the start of a relative path.
            remote.push_str("/..");
            return Some(false);
        }
        remote.truncate(slash);
        return Some(false);
    }
    if let Some(colon) = remote.rfind(':') {
        remote.truncate(colon);
        return Some(true);
    }
    None
}

/// The name of the store for `url` in a directory of stores: the SHA-1 of the URL's bytes,
/// in hex (40 characters). A digest, not the URL, so that any URL gives one plain file name
/// that cannot climb out of the directory; the commit a submodule needs is still checked
/// by its id once the store is found, so a store under the wrong key can give only a
/// "missing commit", never other content.
pub fn store_key(url: &str) -> String {
    let mut hasher = gix_hash::hasher(gix_hash::Kind::Sha1);
    hasher.update(url.as_bytes());
    hasher
        .try_finalize()
        .map(|id| id.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_urls_resolve_as_git_resolves_them() {
        for (url, base, want) in [
            (
                "../lib.git",
                "https://example.com/org/app.git",
                "https://example.com/org/lib.git",
            ),
            (
                "./lib",
                "https://example.com/org/app/",
                "https://example.com/org/app/lib",
            ),
            (
                "../../other/x",
                "https://example.com/org/app",
                "https://example.com/other/x",
            ),
            (
                "../lib.git",
                "git@example.com:org/app.git",
                "git@example.com:org/lib.git",
            ),
            (
                "../lib.git",
                "git@example.com:app.git",
                "git@example.com:lib.git",
            ),
            ("../b", "/srv/git/a.git", "/srv/git/b"),
            ("https://x/y.git", "ignored", "https://x/y.git"),
            ("/abs/path", "ignored", "/abs/path"),
        ] {
            assert_eq!(
                resolve(url, Some(base)).as_deref(),
                Some(want),
                "{url} against {base}"
            );
        }
        assert_eq!(resolve("../x", None), None, "a relative URL needs a base");
        assert_eq!(resolve("x", None).as_deref(), Some("x"), "not relative");
    }

    #[test]
    fn the_store_key_is_the_sha1_of_the_url() {
        // printf %s https://example.com/a.git | sha1sum
        assert_eq!(
            store_key("https://example.com/a.git"),
            "ac24996ec48ac68e213de5ae02fced9975d25d13",
            "the SHA-1 of the URL's bytes"
        );
        assert_eq!(store_key("x").len(), 40, "40 hex digits");
        assert_ne!(store_key("x"), store_key("y"));
    }
}
