//! OpenTimelineIO (.otio JSON) export, so an editor can open the film's cut: a
//! `Timeline.1` holding a `Stack.1` with one video `Track.1`; every shot (title cards too)
//! is a `Clip.2` whose `ExternalReference.1` points at its cached `shot.mp4`; dissolves are
//! `Transition.1` (`SMPTE_Dissolve`) between their clips. Fades to and from black and the
//! prompts are kept in each clip's `metadata.kino`; dialogue lines are `Marker.2`s.
//!
//! Timing follows OTIO's rules: a transition spends `in_offset` frames before the cut
//! (beyond the incoming clip's source range) and `out_offset` frames after it (beyond the
//! outgoing clip's), so the track's length is the film's.

use std::path::Path;

use serde_json::{Value, json};

use crate::cache::{ShotCache, ShotKey};
use crate::plan::{Plan, ShotContent};

fn time(frames: usize, rate: f64) -> Value {
    json!({"OTIO_SCHEMA": "RationalTime.1", "rate": rate, "value": frames as f64})
}

fn range(start: usize, duration: usize, rate: f64) -> Value {
    json!({
        "OTIO_SCHEMA": "TimeRange.1",
        "start_time": time(start, rate),
        "duration": time(duration, rate),
    })
}

/// `file://` URL of an absolute path (spaces and other unsafe bytes percent-encoded).
pub fn file_url(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut url = String::from("file://");
    for b in absolute.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// The timeline of `plan`, with media in `cache` under `keys` (one per shot).
pub fn timeline(plan: &Plan, cache: &ShotCache, keys: &[ShotKey]) -> Value {
    let rate = plan.fps;
    let mut children = Vec::new();
    for (i, (shot, key)) in plan.shots.iter().zip(keys).enumerate() {
        // Split each dissolve at its middle: before the cut from the outgoing clip's range,
        // after it from the incoming one's.
        let half_in = shot.dissolve_in / 2;
        let trim_start = shot.dissolve_in - half_in;
        let trim_end = shot.dissolve_out / 2;
        let duration = shot.frames - trim_start - trim_end;
        if shot.dissolve_in > 0 {
            children.push(json!({
                "OTIO_SCHEMA": "Transition.1",
                "name": format!("Dissolve {} -> {}", i, shot.number),
                "transition_type": "SMPTE_Dissolve",
                "in_offset": time(shot.dissolve_in - half_in, rate),
                "out_offset": time(half_in, rate),
                "metadata": {},
            }));
        }
        let (name, kino) = match &shot.content {
            ShotContent::Generated { prompt, seed, .. } => (
                format!(
                    "Shot {}{}",
                    shot.number,
                    shot.heading
                        .as_deref()
                        .map(|h| format!(" {h}"))
                        .unwrap_or_default()
                ),
                json!({"kind": "generated", "prompt": prompt, "seed": seed}),
            ),
            ShotContent::Card { lines } => (
                format!("Card {}", lines.first().map(String::as_str).unwrap_or("")),
                json!({"kind": "card", "lines": lines}),
            ),
        };
        let markers: Vec<Value> = plan
            .cues
            .iter()
            .filter(|c| c.shot == shot.number)
            .map(|c| {
                json!({
                    "OTIO_SCHEMA": "Marker.2",
                    "name": c.character,
                    "comment": c.text,
                    "color": "YELLOW",
                    "marked_range": range(c.start_frame - shot.start_frame, c.end_frame - c.start_frame, rate),
                    "metadata": {},
                })
            })
            .collect();
        children.push(json!({
            "OTIO_SCHEMA": "Clip.2",
            "name": name,
            "source_range": range(trim_start, duration, rate),
            "media_references": {
                "DEFAULT_MEDIA": {
                    "OTIO_SCHEMA": "ExternalReference.1",
                    "name": key.hash(),
                    "target_url": file_url(&cache.media_path(key)),
                    "available_range": range(0, shot.frames, rate),
                    "available_image_bounds": null,
                    "metadata": {},
                }
            },
            "active_media_reference_key": "DEFAULT_MEDIA",
            "effects": [],
            "markers": markers,
            "enabled": true,
            "color": null,
            "metadata": {"kino": {
                "shot": shot.number,
                "script_line": shot.line,
                "scene": shot.scene,
                "fade_in_frames": shot.fade_in,
                "fade_out_frames": shot.fade_out,
                "content": kino,
            }},
        }));
    }
    json!({
        "OTIO_SCHEMA": "Timeline.1",
        "name": plan.title.clone().unwrap_or_else(|| "Kino film".into()),
        "global_start_time": time(0, rate),
        "metadata": {"kino": {"width": plan.width, "height": plan.height, "fps": plan.fps}},
        "tracks": {
            "OTIO_SCHEMA": "Stack.1",
            "name": "tracks",
            "source_range": null,
            "effects": [],
            "markers": [],
            "enabled": true,
            "color": null,
            "metadata": {},
            "children": [{
                "OTIO_SCHEMA": "Track.1",
                "name": "Video 1",
                "kind": "Video",
                "source_range": null,
                "effects": [],
                "markers": [],
                "enabled": true,
                "color": null,
                "metadata": {},
                "children": children,
            }],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_encoded() {
        assert_eq!(file_url(Path::new("/a b/c.mp4")), "file:///a%20b/c.mp4");
    }
}
