//! Progress reporting: the engine never prints; it tells a [`Progress`] what it did.

/// Receives progress from a checkout. Called from worker threads, so keep it cheap
/// (an atomic add); every method has a do-nothing default.
pub trait Progress: Sync {
    /// The plan is made: `files` regular files will be written.
    fn planned(&self, files: u64) {
        let _ = files;
    }
    /// One more file was written, with `bytes` bytes of content.
    fn wrote_file(&self, bytes: u64) {
        let _ = bytes;
    }
    /// A checkout on disk is about to be compared with a revision (`verify`): `entries`
    /// entries of the revision will be.
    fn comparing(&self, entries: u64) {
        let _ = entries;
    }
    /// One more entry was compared.
    fn compared(&self) {}
}

/// Reports nowhere.
impl Progress for () {}
