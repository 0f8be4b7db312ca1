"""Checks a timeline written by `kino movie render` with the reference OpenTimelineIO library.

Not used by CI (the Rust tests check the JSON themselves); run it by hand after changing
crates/kino-movie/src/otio.rs. Checked with opentimelineio 0.18.1 (pip), Python 3.11:

    python3 -m venv /tmp/otio && /tmp/otio/bin/pip install opentimelineio==0.18.1
    /tmp/otio/bin/python tools/movie/check_otio.py film.otio

It reads the file, prints the track, checks that every transition has the media handles it
needs on both sides, and that a write/read round trip is equivalent.
"""

import sys

import opentimelineio as otio

timeline = otio.adapters.read_from_file(sys.argv[1])
print("timeline", timeline.name, "duration", timeline.duration().to_frames(), "at", timeline.duration().rate)
track = timeline.tracks[0]
for item in track:
    if isinstance(item, otio.schema.Transition):
        print("  transition", item.transition_type, item.in_offset.to_frames(), item.out_offset.to_frames())
    else:
        r = item.range_in_parent()
        print(f"  {type(item).__name__} {item.name!r} at {r.start_time.to_frames()} for {r.duration.to_frames()}, "
              f"{len(item.markers)} markers")
for clip in track.find_clips():
    assert clip.available_range().contains(clip.trimmed_range().start_time), clip.name
for i, item in enumerate(track):
    if isinstance(item, otio.schema.Transition):
        before, after = track[i - 1], track[i + 1]
        assert (before.trimmed_range().end_time_exclusive() + item.out_offset
                <= before.available_range().end_time_exclusive()), "outgoing clip lacks a handle"
        assert (after.trimmed_range().start_time - item.in_offset
                >= after.available_range().start_time), "incoming clip lacks a handle"
again = otio.adapters.read_from_string(otio.adapters.write_to_string(timeline))
assert again.is_equivalent_to(timeline)
print("ok")
