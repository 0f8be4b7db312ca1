//! Atomic outputs: everything is written under a temporary name beside the target and
//! renamed into place only when complete, so a failure or interruption never leaves a
//! half-written file (or folder) under the name the user asked for.

use crate::error::{MediaError, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary path that becomes `target` on [`AtomicOutput::commit`] and is removed if
/// dropped uncommitted.
#[derive(Debug)]
pub struct AtomicOutput {
    target: PathBuf,
    temp: PathBuf,
    committed: bool,
}

impl AtomicOutput {
    /// Reserves a temporary sibling of `target`. Fails early, naming the folder, when the
    /// folder that would hold `target` does not exist or is not a folder.
    pub fn new(target: &Path) -> Result<Self> {
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let meta = std::fs::metadata(&parent)
            .map_err(|e| MediaError::io("cannot write into", &parent, e))?;
        if !meta.is_dir() {
            return Err(MediaError::io(
                "cannot write into",
                &parent,
                std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a folder"),
            ));
        }
        let name = target
            .file_name()
            .ok_or_else(|| {
                MediaError::InvalidParameter(format!(
                    "{}: output path has no file name",
                    target.display()
                ))
            })?
            .to_string_lossy();
        let temp = parent.join(format!(
            ".{name}.kino-tmp-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        Ok(Self {
            target: target.to_path_buf(),
            temp,
            committed: false,
        })
    }

    /// Where to write now.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Moves the finished temporary into place, replacing an existing file or folder.
    pub fn commit(mut self) -> Result<PathBuf> {
        if self.temp.is_dir() && self.target.is_dir() {
            // rename(2) cannot replace a non-empty folder: move the old one aside first.
            let old = self
                .target
                .with_extension(format!("kino-old-{}", std::process::id()));
            std::fs::rename(&self.target, &old)
                .map_err(|e| MediaError::io("cannot replace", &self.target, e))?;
            let moved = std::fs::rename(&self.temp, &self.target);
            if let Err(e) = moved {
                let _ = std::fs::rename(&old, &self.target);
                return Err(MediaError::io("cannot rename into", &self.target, e));
            }
            let _ = std::fs::remove_dir_all(&old);
        } else {
            std::fs::rename(&self.temp, &self.target)
                .map_err(|e| MediaError::io("cannot rename into", &self.target, e))?;
        }
        self.committed = true;
        Ok(self.target.clone())
    }
}

impl Drop for AtomicOutput {
    fn drop(&mut self) {
        if !self.committed {
            if self.temp.is_dir() {
                let _ = std::fs::remove_dir_all(&self.temp);
            } else {
                let _ = std::fs::remove_file(&self.temp);
            }
        }
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    let out = AtomicOutput::new(path)?;
    std::fs::write(out.temp_path(), bytes).map_err(|e| MediaError::io("cannot write", path, e))?;
    out.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_output_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("a.bin");
        {
            let out = AtomicOutput::new(&target).expect("reserve");
            std::fs::write(out.temp_path(), b"partial").expect("write");
        }
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
    }

    #[test]
    fn commit_replaces_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("frames");
        std::fs::create_dir(&target).expect("mkdir");
        std::fs::write(target.join("old.png"), b"x").expect("write");
        let out = AtomicOutput::new(&target).expect("reserve");
        std::fs::create_dir(out.temp_path()).expect("mkdir");
        std::fs::write(out.temp_path().join("new.png"), b"y").expect("write");
        out.commit().expect("commit");
        assert!(target.join("new.png").exists() && !target.join("old.png").exists());
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
    }

    #[test]
    fn missing_parent_is_named() {
        let err = AtomicOutput::new(Path::new("/no/such/dir/out.mp4"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/no/such/dir"), "{err}");
    }
}
