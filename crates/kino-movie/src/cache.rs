//! The shot cache: every rendered shot is stored under a content hash of everything that
//! determines its frames (renderer identity, prompt, seed, size, frame count, rate, first
//! frame), in `<output stem>.kino-cache/` beside the film. After an edit only shots whose key
//! changed are rendered again; a render killed midway loses at most the shots in flight,
//! because each entry appears atomically (written under a temporary name, then renamed).
//!
//! An entry `<key>/` holds `frames/` (lossless PNG frames, what assembly reads),
//! `shot.mp4` (what an editor opens from the OpenTimelineIO timeline) and `shot.json`
//! (the key and what made it).

use std::path::{Path, PathBuf};

use kino_media::{RgbImage, VideoFormat, VideoSpec};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{MovieError, Result};

/// Everything that determines a shot's frames. Its hash names the cache entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShotKey {
    /// Cache layout version: bump when the meaning of an entry changes.
    pub version: u32,
    /// Who makes the frames: the model's identity and its generation settings, or the
    /// card renderer's.
    pub renderer: String,
    /// The prompt, or the card's lines joined with `\n`.
    pub content: String,
    /// The noise seed (0 for cards).
    pub seed: u64,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Frames in the shot.
    pub frames: usize,
    /// Frames per second, as text so the key is exact.
    pub fps: String,
    /// SHA-256 of the first-frame image's bytes, if any.
    pub first_frame: Option<String>,
}

/// The version written into every [`ShotKey`].
pub const CACHE_VERSION: u32 = 1;

impl ShotKey {
    /// Hex SHA-256 of the key's JSON.
    pub fn hash(&self) -> String {
        let json = serde_json::to_vec(self).expect("a ShotKey always serialises");
        hex(&Sha256::digest(&json))
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `film.mp4` -> `film.kino-cache/` beside it.
pub fn cache_dir_for(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    output.with_file_name(format!("{stem}.kino-cache"))
}

/// A folder of rendered shots.
#[derive(Debug, Clone)]
pub struct ShotCache {
    dir: PathBuf,
}

/// One stored shot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// What made it.
    pub key: ShotKey,
    /// The key's hash (the entry's folder name).
    pub hash: String,
    /// When it was written (seconds since the Unix epoch).
    pub written_unix: u64,
    /// Seconds the renderer took.
    pub render_seconds: f64,
}

impl ShotCache {
    /// A cache in `dir` (created on the first store).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folder of the entry for `key`.
    pub fn entry_dir(&self, key: &ShotKey) -> PathBuf {
        self.dir.join(key.hash())
    }

    /// The entry's playable media (for timelines).
    pub fn media_path(&self, key: &ShotKey) -> PathBuf {
        self.entry_dir(key).join("shot.mp4")
    }

    /// The stored entry for `key`, if complete and made by exactly this key.
    pub fn get(&self, key: &ShotKey) -> Option<CacheEntry> {
        let manifest = self.entry_dir(key).join("shot.json");
        let entry: CacheEntry = serde_json::from_slice(&std::fs::read(manifest).ok()?).ok()?;
        (entry.key == *key).then_some(entry)
    }

    /// Stores `frames` (RGB8, the key's size) as a new entry, atomically.
    pub fn put(
        &self,
        key: &ShotKey,
        frames: &[Vec<u8>],
        render_seconds: f64,
    ) -> Result<CacheEntry> {
        let want = key.width as usize * key.height as usize * 3;
        if frames.len() != key.frames || frames.iter().any(|f| f.len() != want) {
            return Err(MovieError::Cache {
                path: self.entry_dir(key),
                message: format!(
                    "the renderer returned {} frames of {:?} bytes, expected {} of {want}",
                    frames.len(),
                    frames.first().map(Vec::len),
                    key.frames
                ),
            });
        }
        if !self.dir.is_dir() {
            std::fs::create_dir(&self.dir)
                .map_err(|e| MovieError::io("cannot create", &self.dir, e))?;
        }
        let target = self.entry_dir(key);
        let out = kino_media::AtomicOutput::new(&target)?;
        let temp = out.temp_path().to_path_buf();
        std::fs::create_dir(&temp).map_err(|e| MovieError::io("cannot create", &temp, e))?;
        let spec = VideoSpec {
            width: key.width,
            height: key.height,
            fps: key.fps.parse().unwrap_or(16.0),
        };
        let mut png =
            kino_media::create_writer(&temp.join("frames"), Some(VideoFormat::Png), spec)?;
        // H.264 needs even sides; openh264 refuses frames under 16 pixels a side.
        let even = key.width.is_multiple_of(2)
            && key.height.is_multiple_of(2)
            && key.width >= 16
            && key.height >= 16
            && frames.len() >= 2;
        let mut mp4 = if even {
            Some(kino_media::create_writer(
                &temp.join("shot.mp4"),
                Some(VideoFormat::Mp4),
                spec,
            )?)
        } else {
            None
        };
        for buf in frames {
            let image = RgbImage::from_raw(key.width, key.height, buf.clone())
                .expect("frame sizes were checked above");
            png.write_frame(&image)?;
            if let Some(w) = mp4.as_mut() {
                w.write_frame(&image)?;
            }
        }
        png.finish()?;
        if let Some(w) = mp4 {
            w.finish()?;
        }
        let entry = CacheEntry {
            key: key.clone(),
            hash: key.hash(),
            written_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            render_seconds,
        };
        let json = serde_json::to_vec_pretty(&entry).expect("a CacheEntry always serialises");
        let manifest = temp.join("shot.json");
        std::fs::write(&manifest, json)
            .map_err(|e| MovieError::io("cannot write", &manifest, e))?;
        out.commit()?;
        Ok(entry)
    }

    /// Removes the half-written entries that renders killed midway left behind (temporary
    /// folders named `.<hash>.kino-tmp-<pid>-<n>` whose process is gone); returns how many.
    /// Where it cannot tell whether a process runs (no `/proc`), it removes nothing.
    pub fn clean_stale(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        if !Path::new("/proc/self").exists() {
            return 0;
        }
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .split_once(".kino-tmp-")
                .and_then(|(_, rest)| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok())
            else {
                continue;
            };
            if !name.starts_with('.') || Path::new(&format!("/proc/{pid}")).exists() {
                continue;
            }
            let path = entry.path();
            let gone = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed += usize::from(gone.is_ok());
        }
        removed
    }

    /// The entry's frames, checked against its key.
    pub fn frames(&self, key: &ShotKey) -> Result<Vec<RgbImage>> {
        let dir = self.entry_dir(key).join("frames");
        let video = kino_media::read_png_frames(&dir, 16.0)?;
        let frames = video.into_frames();
        let size_ok = frames
            .first()
            .is_some_and(|f| f.dimensions() == (key.width, key.height));
        if frames.len() != key.frames || !size_ok {
            return Err(MovieError::Cache {
                path: dir,
                message: format!(
                    "holds {} frames, expected {} of {}x{} (delete the folder to render it again)",
                    frames.len(),
                    key.frames,
                    key.width,
                    key.height
                ),
            });
        }
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ShotKey {
        ShotKey {
            version: CACHE_VERSION,
            renderer: "test".into(),
            content: "a red ball".into(),
            seed: 1,
            width: 16,
            height: 16,
            frames: 3,
            fps: "16".into(),
            first_frame: None,
        }
    }

    #[test]
    fn stores_and_reads_back_exactly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ShotCache::new(dir.path().join("c"));
        assert!(cache.get(&key()).is_none());
        let frames: Vec<Vec<u8>> = (0..3).map(|i| vec![i as u8 * 40; 16 * 16 * 3]).collect();
        cache.put(&key(), &frames, 0.5).expect("put");
        assert!(cache.get(&key()).is_some());
        assert!(cache.media_path(&key()).is_file());
        let back = cache.frames(&key()).expect("read");
        assert_eq!(
            back.iter().map(|f| f.as_raw().clone()).collect::<Vec<_>>(),
            frames
        );
        let mut other = key();
        other.seed = 2;
        assert_ne!(other.hash(), key().hash());
        assert!(cache.get(&other).is_none());
        assert!(cache.put(&other, &frames[..2], 0.0).is_err());
        assert_eq!(std::fs::read_dir(cache.dir()).expect("list").count(), 1);
    }

    #[test]
    fn stale_temporaries_of_dead_processes_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ShotCache::new(dir.path());
        let dead = dir
            .path()
            .join(format!(".{}.kino-tmp-4294967295-0", key().hash()));
        let alive = dir.path().join(format!(
            ".{}.kino-tmp-{}-0",
            key().hash(),
            std::process::id()
        ));
        for d in [&dead, &alive] {
            std::fs::create_dir_all(d.join("frames")).expect("mkdir");
        }
        assert_eq!(cache.clean_stale(), 1);
        assert!(!dead.exists() && alive.exists());
    }

    #[test]
    fn cache_dir_is_beside_the_output() {
        assert_eq!(
            cache_dir_for(Path::new("out/film.mp4")),
            PathBuf::from("out/film.kino-cache")
        );
    }
}
