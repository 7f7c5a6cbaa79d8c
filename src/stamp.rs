//! A file's version as `stat` sees it through its symlinks: device, inode,
//! size, modification and change times. Two stamps differ when the file was
//! written, replaced by a rename, or swapped in through a symlink (a
//! Kubernetes ConfigMap's `..data`). Reads metadata only, never contents.

use std::path::Path;

/// A file's version; `None` inside when it cannot be had (missing, a
/// dangling link), which is a version like any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp(Option<[i64; 7]>);

impl Stamp {
    /// The file's version now.
    pub fn of(path: &Path) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp(std::fs::metadata(path).ok().map(|m| {
            [
                m.dev() as i64,
                m.ino() as i64,
                m.size() as i64,
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec(),
            ]
        }))
    }
}
