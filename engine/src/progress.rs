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
}

/// Reports nowhere.
impl Progress for () {}
