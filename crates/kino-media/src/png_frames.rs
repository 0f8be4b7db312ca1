//! A video as a folder of numbered PNG frames (`frame_000001.png` ...) with a `video.json`
//! sidecar giving the frame rate (ffmpeg reads it as `-framerate FPS -i frame_%06d.png`).

use crate::atomic::AtomicOutput;
use crate::error::{MediaError, Result};
use crate::format::VideoFormat;
use crate::image_io::read_image;
use crate::video::{Video, VideoSpec};
use crate::writer::{VideoWriter, WrittenVideo, check_frame};
use image::RgbImage;
use std::path::{Path, PathBuf};

/// The sidecar file name inside a frames folder.
pub const SIDECAR: &str = "video.json";

/// What `video.json` holds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FramesSidecar {
    /// Frames per second.
    pub fps: f64,
    /// Number of frames.
    pub frames: usize,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// printf-style name pattern of the frames.
    pub pattern: String,
}

/// The file name of frame `index` (zero-based) inside the folder.
pub fn frame_name(index: usize) -> String {
    format!("frame_{:06}.png", index + 1)
}

/// Streaming PNG-folder writer: the folder appears complete or not at all.
pub struct PngFramesWriter {
    out: AtomicOutput,
    spec: VideoSpec,
    frames: usize,
}

impl PngFramesWriter {
    /// Creates the temporary folder for `path`.
    pub fn create(path: &Path, spec: VideoSpec) -> Result<Self> {
        let trimmed = PathBuf::from(path.to_string_lossy().trim_end_matches('/'));
        let out = AtomicOutput::new(&trimmed)?;
        std::fs::create_dir(out.temp_path())
            .map_err(|e| MediaError::io("cannot create", &trimmed, e))?;
        Ok(Self {
            out,
            spec,
            frames: 0,
        })
    }
}

impl VideoWriter for PngFramesWriter {
    fn write_frame(&mut self, frame: &RgbImage) -> Result<()> {
        check_frame(&self.spec, self.frames, frame)?;
        let file = self.out.temp_path().join(frame_name(self.frames));
        frame
            .save_with_format(&file, image::ImageFormat::Png)
            .map_err(|e| {
                MediaError::io(
                    "cannot write",
                    self.out.target().join(frame_name(self.frames)),
                    std::io::Error::other(e),
                )
            })?;
        self.frames += 1;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<WrittenVideo> {
        let sidecar = FramesSidecar {
            fps: self.spec.fps,
            frames: self.frames,
            width: self.spec.width,
            height: self.spec.height,
            pattern: "frame_%06d.png".into(),
        };
        let json = serde_json::to_string_pretty(&sidecar).expect("plain struct serialises");
        std::fs::write(self.out.temp_path().join(SIDECAR), json)
            .map_err(|e| MediaError::io("cannot write", self.out.target().join(SIDECAR), e))?;
        let path = self.out.commit()?;
        Ok(WrittenVideo::finished(
            path,
            VideoFormat::Png,
            &self.spec,
            self.frames,
        ))
    }
}

/// The PNG files of a frames folder, in name order (numbers compared as numbers).
pub fn list_frames(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| MediaError::io("cannot read folder", dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
        .collect();
    files.sort_by_key(|p| natural_key(&p.file_name().unwrap_or_default().to_string_lossy()));
    Ok(files)
}

fn natural_key(name: &str) -> (String, u64) {
    let digits: String = name.chars().filter(|c| c.is_ascii_digit()).collect();
    let stem: String = name.chars().filter(|c| !c.is_ascii_digit()).collect();
    (stem, digits.parse().unwrap_or(0))
}

/// Reads the sidecar if present.
pub fn read_sidecar(dir: &Path) -> Result<Option<FramesSidecar>> {
    let path = dir.join(SIDECAR);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| MediaError::corrupt(&path, e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(MediaError::io("cannot read", &path, e)),
    }
}

/// Reads a frames folder; the rate comes from `video.json`, else `default_fps`.
pub fn read_png_frames(dir: &Path, default_fps: f64) -> Result<Video> {
    let files = list_frames(dir)?;
    if files.is_empty() {
        return Err(MediaError::corrupt(dir, "folder holds no .png frames"));
    }
    let fps = read_sidecar(dir)?.map_or(default_fps, |s| s.fps);
    let frames = files
        .iter()
        .map(|f| read_image(f))
        .collect::<Result<Vec<_>>>()?;
    let (w, h) = frames[0].dimensions();
    if let Some((i, f)) = frames
        .iter()
        .enumerate()
        .find(|(_, f)| f.dimensions() != (w, h))
    {
        return Err(MediaError::corrupt(
            &files[i],
            format!(
                "is {}x{}, but {} is {w}x{h}",
                f.width(),
                f.height(),
                files[0].display()
            ),
        ));
    }
    Video::new(frames, fps)
}
