//! Reads an MP4's box structure (no decoding): codec, size, sample count, frame rate,
//! duration, profile and whether it is fast-start. Used by `kino info`.

use crate::error::{MediaError, Result};
use std::path::Path;

/// What an MP4's first video track says about itself.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Mp4Info {
    /// Sample entry code, e.g. "avc1".
    pub codec: String,
    /// H.264 profile_idc from avcC (66 = Baseline), if present.
    pub profile_idc: Option<u8>,
    /// Coded width from the sample entry.
    pub width: u32,
    /// Coded height.
    pub height: u32,
    /// Number of samples (frames).
    pub frames: u64,
    /// Track duration in seconds.
    pub duration_seconds: f64,
    /// Frames / duration.
    pub fps: f64,
    /// The movie box precedes the media data (playback can start before download ends).
    pub fast_start: bool,
}

struct Box<'a> {
    kind: [u8; 4],
    body: &'a [u8],
}

fn boxes<'a>(mut data: &'a [u8], path: &Path) -> Result<Vec<Box<'a>>> {
    let mut out = Vec::new();
    while data.len() >= 8 {
        let size32 = u32::from_be_bytes(data[0..4].try_into().expect("4 bytes"));
        let kind: [u8; 4] = data[4..8].try_into().expect("4 bytes");
        let (header, size) = match size32 {
            0 => (8, data.len()),
            1 if data.len() >= 16 => (
                16,
                u64::from_be_bytes(data[8..16].try_into().expect("8 bytes")) as usize,
            ),
            n => (8, n as usize),
        };
        if size < header || size > data.len() {
            return Err(MediaError::corrupt(
                path,
                format!(
                    "truncated or corrupt MP4: box {:?} claims {size} bytes, {} remain",
                    String::from_utf8_lossy(&kind),
                    data.len()
                ),
            ));
        }
        out.push(Box {
            kind,
            body: &data[header..size],
        });
        data = &data[size..];
    }
    Ok(out)
}

fn child<'a>(parent: &'a [u8], kind: &[u8; 4], path: &Path) -> Result<Option<&'a [u8]>> {
    Ok(boxes(parent, path)?
        .into_iter()
        .find(|b| &b.kind == kind)
        .map(|b| b.body))
}

fn need<'a>(parent: &'a [u8], kind: &[u8; 4], path: &Path) -> Result<&'a [u8]> {
    child(parent, kind, path)?.ok_or_else(|| {
        MediaError::corrupt(
            path,
            format!("MP4 lacks a {:?} box", String::from_utf8_lossy(kind)),
        )
    })
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Probes an MP4 file's first video track.
pub fn probe_mp4(path: &Path) -> Result<Mp4Info> {
    let data = std::fs::read(path).map_err(|e| MediaError::io("cannot read", path, e))?;
    let top = boxes(&data, path)?;
    let pos = |k: &[u8; 4]| top.iter().position(|b| &b.kind == k);
    let (moov_at, mdat_at) = (pos(b"moov"), pos(b"mdat"));
    let moov = moov_at
        .map(|i| top[i].body)
        .ok_or_else(|| MediaError::corrupt(path, "not an MP4 (no moov box)"))?;
    let short = || MediaError::corrupt(path, "truncated MP4 header boxes");
    for trak in boxes(moov, path)?
        .into_iter()
        .filter(|b| &b.kind == b"trak")
    {
        let mdia = need(trak.body, b"mdia", path)?;
        let hdlr = need(mdia, b"hdlr", path)?;
        if hdlr.get(8..12) != Some(b"vide") {
            continue;
        }
        let mdhd = need(mdia, b"mdhd", path)?;
        let (timescale, duration) = if mdhd.first() == Some(&1) {
            (
                be_u32(mdhd, 20).ok_or_else(short)?,
                be_u64(mdhd, 24).ok_or_else(short)?,
            )
        } else {
            (
                be_u32(mdhd, 12).ok_or_else(short)?,
                be_u32(mdhd, 16).ok_or_else(short)? as u64,
            )
        };
        let stbl = need(need(mdia, b"minf", path)?, b"stbl", path)?;
        let stsd = need(stbl, b"stsd", path)?;
        // stsd: version/flags(4) entry_count(4) then sample entries (boxes).
        let entry = boxes(stsd.get(8..).ok_or_else(short)?, path)?
            .into_iter()
            .next()
            .ok_or_else(|| MediaError::corrupt(path, "MP4 video track has no sample entry"))?;
        // VisualSampleEntry: 6 reserved + 2 dref index + 16 pre-defined, then width, height (u16).
        let b = entry.body;
        let width = u16::from_be_bytes(
            b.get(24..26)
                .ok_or_else(short)?
                .try_into()
                .expect("2 bytes"),
        ) as u32;
        let height = u16::from_be_bytes(
            b.get(26..28)
                .ok_or_else(short)?
                .try_into()
                .expect("2 bytes"),
        ) as u32;
        let profile_idc = b
            .get(78..)
            .and_then(|rest| child(rest, b"avcC", path).ok().flatten())
            .and_then(|c| c.get(1).copied());
        let stsz = need(stbl, b"stsz", path)?;
        let frames = be_u32(stsz, 8).ok_or_else(short)? as u64;
        let duration_seconds = if timescale > 0 {
            duration as f64 / timescale as f64
        } else {
            0.0
        };
        return Ok(Mp4Info {
            codec: String::from_utf8_lossy(&entry.kind).into_owned(),
            profile_idc,
            width,
            height,
            frames,
            duration_seconds,
            fps: if duration_seconds > 0.0 {
                frames as f64 / duration_seconds
            } else {
                0.0
            },
            fast_start: matches!((moov_at, mdat_at), (Some(m), Some(d)) if m < d),
        });
    }
    Err(MediaError::corrupt(path, "MP4 has no video track"))
}
