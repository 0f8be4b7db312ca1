//! Objects found in two keyframes, carried whole into the frames between them.
//!
//! Motion-compensated interpolation ([`crate::interpolate`]) matches windows of pixels, so an
//! object that also turns or changes shape between two keyframes (a thin star turning an
//! eighth of a turn) matches no motion, and its in-between frames lose its thin parts or fade
//! them into the background. This module reads a frame the way the scenes it serves are made:
//! a background (each row's median colour, which the few small objects of a row do not move)
//! and objects on it (connected regions that stand out from that background). An object found
//! in both keyframes, alike in colour and size, is drawn as the nearer keyframe shows it, at
//! its place along the straight path between its two centroids and at the area between its
//! two areas: the layered sprite of cel animation. It is drawn only where the
//! motion-compensated frame lost it (kept under three quarters of its pixels), over what is
//! there, so an object the window matching carried well keeps its smooth in-between shape.

use crate::interpolate::FrameSize;

/// Colour distance from the row's background (summed over RGB, values in `[0, 1]`) above which
/// a pixel belongs to an object.
const OBJECT_CONTRAST: f32 = 0.3;
/// Largest side of a region's box, as a share of the frame's longer side, for it to be one
/// object (the world's largest, a grown one, spans about 0.4).
const MAX_OBJECT_SIDE: f32 = 0.45;
/// Pixels a region needs to count as an object.
const MIN_OBJECT_PIXELS: usize = 3;
/// Largest mean-colour distance (summed over RGB) between two regions taken as one object.
const MAX_COLOUR_DISTANCE: f32 = 0.45;
/// Largest area ratio between two regions taken as one object (either way).
const MAX_AREA_RATIO: f32 = 3.0;
/// Colour distance (summed over RGB) within which a pixel of the frame underneath still shows
/// the object pixel meant to be there.
const KEPT_COLOUR: f32 = 0.3;
/// Share of an object's pixels the frame underneath must show for the object to be left as
/// that frame has it.
const KEPT_ENOUGH: f32 = 0.75;
/// Weight of a pixel of centroid distance against colour distance when pairing regions.
const DISTANCE_COST: f32 = 0.02;

/// An object as drawn into a frame: (pixel of the frame, pixel of the keyframe it shows) pairs.
type Sprite = Vec<(usize, usize)>;

/// One object of a frame: a connected region (8-neighbours) that stands out from the
/// background.
#[derive(Debug, Clone)]
pub(crate) struct Region {
    /// Its pixels, as indices `y * width + x`, in increasing order.
    pub(crate) pixels: Vec<usize>,
    /// Mean column and row.
    pub(crate) centroid: (f32, f32),
    /// Mean RGB colour.
    pub(crate) colour: [f32; 3],
}

/// The objects of a frame: the regions that stand out from its background.
#[derive(Debug, Clone)]
pub(crate) struct Layers {
    /// The objects, largest first.
    pub(crate) regions: Vec<Region>,
}

/// The objects two keyframes share, ready to draw at any fraction between them.
#[derive(Debug, Clone)]
pub struct PairLayers {
    a: Layers,
    b: Layers,
    /// Indices into `a.regions` and `b.regions` of the regions taken as one object.
    pairs: Vec<(usize, usize)>,
}

impl PairLayers {
    /// Splits both frames into background and objects and pairs the objects.
    pub fn estimate(a: &[f32], b: &[f32], size: FrameSize) -> Self {
        let (a, b) = (Layers::of(a, size), Layers::of(b, size));
        let pairs = pair_regions(&a.regions, &b.regions, size);
        Self { a, b, pairs }
    }

    /// Number of objects found in both frames.
    pub fn objects(&self) -> usize {
        self.pairs.len()
    }

    /// Draws the shared objects onto `out`, the frame at fraction `f` (0 is `a`, 1 is `b`),
    /// where it lost them: each as the nearer keyframe has it, moved `f` of the way from its
    /// centroid in `a` to its centroid in `b` and scaled to the area between its two areas (an
    /// object that grows keeps growing in between).
    pub fn draw(&self, a: &[f32], b: &[f32], size: FrameSize, f: f32, out: &mut [f32]) {
        // Each object as (its keyframe, (pixel of `out`, pixel of the keyframe) pairs), if
        // `out` lost it. Decided for all before any is drawn, so the order does not matter.
        let lost: Vec<(&[f32], Sprite)> = self
            .pairs
            .iter()
            .map(|&(i, j)| {
                let (ra, rb) = (&self.a.regions[i], &self.b.regions[j]);
                let (frame, nearer) = if f < 0.5 { (a, ra) } else { (b, rb) };
                (frame, in_between(ra, rb, nearer, f, size))
            })
            .filter(|(frame, drawn)| {
                let kept = drawn
                    .iter()
                    .filter(|&&(t, p)| {
                        (0..3)
                            .map(|c| (out[t * 3 + c] - frame[p * 3 + c]).abs())
                            .sum::<f32>()
                            < KEPT_COLOUR
                    })
                    .count();
                // A frame that kept most of the object holds its in-between shape, which the
                // keyframe's sprite would replace by a jump at the midpoint.
                (kept as f32) < KEPT_ENOUGH * drawn.len() as f32
            })
            .collect();
        for (frame, drawn) in lost {
            for (t, p) in drawn {
                out[t * 3..t * 3 + 3].copy_from_slice(&frame[p * 3..p * 3 + 3]);
            }
        }
    }
}

/// The object of regions `ra` (in the frame before) and `rb` (after) at fraction `f`, drawn
/// from `nearer` (one of the two): its centroid `f` of the way from `ra`'s to `rb`'s, its area
/// blended between theirs. Each pixel of the frame that maps back (scaled about the centroids)
/// into `nearer` takes the colour of the pixel it lands on: pairs (pixel drawn, pixel of the
/// keyframe).
fn in_between(
    ra: &Region,
    rb: &Region,
    nearer: &Region,
    f: f32,
    size: FrameSize,
) -> Vec<(usize, usize)> {
    let (w, h) = (size.width as i64, size.height as i64);
    let centre = (
        ra.centroid.0 + f * (rb.centroid.0 - ra.centroid.0),
        ra.centroid.1 + f * (rb.centroid.1 - ra.centroid.1),
    );
    let area = (1.0 - f) * ra.pixels.len() as f32 + f * rb.pixels.len() as f32;
    let scale = (area / nearer.pixels.len() as f32).sqrt();
    let (mut x0, mut y0, mut x1, mut y1) = (i64::MAX, i64::MAX, i64::MIN, i64::MIN);
    for &p in &nearer.pixels {
        let (x, y) = ((p as i64) % w, (p as i64) / w);
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    // The nearer region's box, carried and scaled, a pixel wider each way.
    let to_frame = |v: i64, from: f32, to: f32| to + (v as f32 - from) * scale;
    let (left, right) = (
        to_frame(x0, nearer.centroid.0, centre.0).floor() as i64 - 1,
        to_frame(x1, nearer.centroid.0, centre.0).ceil() as i64 + 1,
    );
    let (top, bottom) = (
        to_frame(y0, nearer.centroid.1, centre.1).floor() as i64 - 1,
        to_frame(y1, nearer.centroid.1, centre.1).ceil() as i64 + 1,
    );
    let mut drawn = Vec::new();
    for ty in top.max(0)..=bottom.min(h - 1) {
        for tx in left.max(0)..=right.min(w - 1) {
            let sx = (nearer.centroid.0 + (tx as f32 - centre.0) / scale).round() as i64;
            let sy = (nearer.centroid.1 + (ty as f32 - centre.1) / scale).round() as i64;
            if sx < 0 || sy < 0 || sx >= w || sy >= h {
                continue;
            }
            let source = (sy * w + sx) as usize;
            if nearer.pixels.binary_search(&source).is_ok() {
                drawn.push(((ty * w + tx) as usize, source));
            }
        }
    }
    drawn
}

/// An object found in a frame ([`frame_objects`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FoundObject {
    /// Mean column and row of its pixels.
    pub centroid: (f32, f32),
    /// The RGB of each of its pixels, in `[0, 1]`.
    pub colours: Vec<[f32; 3]>,
}

/// The objects of `frame` as [`PairLayers`] finds them (connected regions that stand out from
/// each row's median background), largest first.
pub fn frame_objects(frame: &[f32], size: FrameSize) -> Vec<FoundObject> {
    Layers::of(frame, size)
        .regions
        .into_iter()
        .map(|region| FoundObject {
            centroid: region.centroid,
            colours: region
                .pixels
                .iter()
                .map(|&p| [frame[p * 3], frame[p * 3 + 1], frame[p * 3 + 2]])
                .collect(),
        })
        .collect()
}

impl Layers {
    /// The regions of `frame` that stand out from its row-median background and could be one
    /// object each.
    pub(crate) fn of(frame: &[f32], size: FrameSize) -> Self {
        let background = row_medians(frame, size);
        let standing_out: Vec<bool> = frame
            .chunks_exact(3)
            .zip(background.chunks_exact(3))
            .map(|(px, bg)| (0..3).map(|c| (px[c] - bg[c]).abs()).sum::<f32>() > OBJECT_CONTRAST)
            .collect();
        let mut regions: Vec<Region> = connected_regions(&standing_out, size)
            .into_iter()
            .filter(|pixels| pixels.len() >= MIN_OBJECT_PIXELS && fits_one_object(pixels, size))
            .map(|pixels| Region::new(pixels, frame, size))
            .collect();
        regions.sort_by_key(|r| std::cmp::Reverse(r.pixels.len()));
        Self { regions }
    }
}

impl Region {
    fn new(pixels: Vec<usize>, frame: &[f32], size: FrameSize) -> Self {
        let n = pixels.len() as f32;
        let (mut cx, mut cy, mut colour) = (0f32, 0f32, [0f32; 3]);
        for &p in &pixels {
            cx += (p % size.width) as f32;
            cy += (p / size.width) as f32;
            for (c, sum) in colour.iter_mut().enumerate() {
                *sum += frame[p * 3 + c];
            }
        }
        Self {
            centroid: (cx / n, cy / n),
            colour: colour.map(|s| s / n),
            pixels,
        }
    }
}

/// Whether a region's box is no wider or taller than [`MAX_OBJECT_SIDE`] of the frame: a
/// larger one is objects run together (through a fringe or a smear), whose centroid is no
/// object's.
fn fits_one_object(pixels: &[usize], size: FrameSize) -> bool {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for &p in pixels {
        let (x, y) = (p % size.width, p / size.width);
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    let side = MAX_OBJECT_SIDE * size.height.max(size.width) as f32;
    ((x1 - x0 + 1) as f32) <= side && ((y1 - y0 + 1) as f32) <= side
}

/// Each pixel's row median, channel by channel, as a frame.
pub(crate) fn row_medians(frame: &[f32], size: FrameSize) -> Vec<f32> {
    let (h, w) = (size.height, size.width);
    let mut out = vec![0f32; frame.len()];
    let mut row = vec![0f32; w];
    for y in 0..h {
        for c in 0..3 {
            for (x, v) in row.iter_mut().enumerate() {
                *v = frame[(y * w + x) * 3 + c];
            }
            row.sort_by(f32::total_cmp);
            let median = if w % 2 == 1 {
                row[w / 2]
            } else {
                0.5 * (row[w / 2 - 1] + row[w / 2])
            };
            for x in 0..w {
                out[(y * w + x) * 3 + c] = median;
            }
        }
    }
    out
}

/// The 8-connected regions of the set pixels of `mask`, each as its pixel indices.
fn connected_regions(mask: &[bool], size: FrameSize) -> Vec<Vec<usize>> {
    let (h, w) = (size.height as i64, size.width as i64);
    let mut seen = vec![false; mask.len()];
    let mut regions = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        let (mut region, mut stack) = (Vec::new(), vec![start]);
        while let Some(p) = stack.pop() {
            region.push(p);
            let (x, y) = ((p as i64) % w, (p as i64) / w);
            for (nx, ny) in (-1..=1).flat_map(|ny| (-1..=1).map(move |nx| (nx, ny))) {
                let (tx, ty) = (x + nx, y + ny);
                if tx >= 0 && ty >= 0 && tx < w && ty < h {
                    let q = (ty * w + tx) as usize;
                    if mask[q] && !seen[q] {
                        seen[q] = true;
                        stack.push(q);
                    }
                }
            }
        }
        region.sort_unstable();
        regions.push(region);
    }
    regions
}

/// Pairs regions of two frames that are one object: alike in colour and size, no farther
/// apart than the frame's longer side, the cheapest pairs (colour distance plus
/// [`DISTANCE_COST`] per pixel between centroids) first, each region in at most one pair.
///
/// The reach is the whole frame because a keyframe interval can hold that much travel: a
/// bouncing object is on the ground at one keyframe and at the top of its arc at the next,
/// most of the frame's height away.
fn pair_regions(a: &[Region], b: &[Region], size: FrameSize) -> Vec<(usize, usize)> {
    let reach = size.height.max(size.width) as f32;
    let mut options: Vec<(f32, usize, usize)> = Vec::new();
    for (i, ra) in a.iter().enumerate() {
        for (j, rb) in b.iter().enumerate() {
            let colour: f32 = (0..3).map(|c| (ra.colour[c] - rb.colour[c]).abs()).sum();
            let ratio = ra.pixels.len().max(rb.pixels.len()) as f32
                / ra.pixels.len().min(rb.pixels.len()) as f32;
            let distance = (ra.centroid.0 - rb.centroid.0).hypot(ra.centroid.1 - rb.centroid.1);
            if colour <= MAX_COLOUR_DISTANCE && ratio <= MAX_AREA_RATIO && distance <= reach {
                options.push((colour + DISTANCE_COST * distance, i, j));
            }
        }
    }
    options.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    let (mut used_a, mut used_b) = (vec![false; a.len()], vec![false; b.len()]);
    let mut pairs = Vec::new();
    for (_, i, j) in options {
        if !used_a[i] && !used_b[j] {
            used_a[i] = true;
            used_b[j] = true;
            pairs.push((i, j));
        }
    }
    pairs.sort_unstable();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: FrameSize = FrameSize {
        height: 24,
        width: 24,
    };

    /// A grey frame with `colour` at the given pixels.
    fn frame_with(pixels: &[(i64, i64)], colour: [f32; 3]) -> Vec<f32> {
        let mut frame = vec![0.5f32; SIZE.height * SIZE.width * 3];
        paint(&mut frame, pixels, colour);
        frame
    }

    fn paint(frame: &mut [f32], pixels: &[(i64, i64)], colour: [f32; 3]) {
        for &(x, y) in pixels {
            let i = (y as usize * SIZE.width + x as usize) * 3;
            frame[i..i + 3].copy_from_slice(&colour);
        }
    }

    /// A plus sign (arms of `arm` pixels) centred at `(cx, cy)`, or an x when `diagonal`.
    fn cross(cx: i64, cy: i64, arm: i64, diagonal: bool) -> Vec<(i64, i64)> {
        let mut pixels = vec![(cx, cy)];
        for k in 1..=arm {
            if diagonal {
                pixels.extend([
                    (cx + k, cy + k),
                    (cx - k, cy - k),
                    (cx + k, cy - k),
                    (cx - k, cy + k),
                ]);
            } else {
                pixels.extend([(cx + k, cy), (cx - k, cy), (cx, cy + k), (cx, cy - k)]);
            }
        }
        pixels
    }

    fn count(frame: &[f32], colour: [f32; 3]) -> (usize, f32, f32) {
        let (mut n, mut sx, mut sy) = (0, 0f32, 0f32);
        for (i, px) in frame.chunks_exact(3).enumerate() {
            if (0..3).all(|c| (px[c] - colour[c]).abs() < 0.1) {
                n += 1;
                sx += (i % SIZE.width) as f32;
                sy += (i / SIZE.width) as f32;
            }
        }
        (n, sx / n.max(1) as f32, sy / n.max(1) as f32)
    }

    /// The plain blend of two frames at `f`: two faded copies of whatever moved.
    fn blend(a: &[f32], b: &[f32], f: f32) -> Vec<f32> {
        a.iter()
            .zip(b)
            .map(|(p, q)| (1.0 - f) * p + f * q)
            .collect()
    }

    #[test]
    fn a_thin_turning_object_is_drawn_whole_on_its_way() {
        const RED: [f32; 3] = [1.0, 0.0, 0.0];
        // A plus at (6, 12) becomes an x at (14, 12): it moves 8 pixels and turns.
        let a = frame_with(&cross(6, 12, 4, false), RED);
        let b = frame_with(&cross(14, 12, 4, true), RED);
        let layers = PairLayers::estimate(&a, &b, SIZE);
        assert_eq!(layers.objects(), 1);
        for (f, x) in [(0.25, 8.0), (0.75, 12.0)] {
            let under = blend(&a, &b, f);
            let mut out = under.clone();
            layers.draw(&a, &b, SIZE, f, &mut out);
            // The nearer keyframe's 17 pixels, whole, a quarter of the way from it.
            let (n, cx, cy) = count(&out, RED);
            assert_eq!(n, 17, "at {f}");
            assert!(
                (cx - x).abs() < 0.01 && (cy - 12.0).abs() < 0.01,
                "at {f}: {cx} {cy}"
            );
            // Nothing else of the frame underneath changes.
            let changed = out
                .chunks_exact(3)
                .zip(under.chunks_exact(3))
                .filter(|(p, q)| p != q);
            assert_eq!(changed.count(), 17, "at {f}");
        }
    }

    #[test]
    fn a_bouncing_object_is_carried_from_the_ground_to_the_top_of_its_arc() {
        const RED: [f32; 3] = [1.0, 0.0, 0.0];
        // Two keyframes of a bounce: on the ground (row 20), then 17 rows up, over two thirds
        // of the frame's height. Underneath, the plain blend lost it.
        let (a, b) = (
            frame_with(&cross(12, 20, 2, false), RED),
            frame_with(&cross(12, 3, 2, false), RED),
        );
        let layers = PairLayers::estimate(&a, &b, SIZE);
        assert_eq!(layers.objects(), 1);
        for (f, y) in [(0.25, 15.75), (0.5, 11.5), (0.75, 7.25)] {
            let mut out = blend(&a, &b, f);
            layers.draw(&a, &b, SIZE, f, &mut out);
            let (n, cx, cy) = count(&out, RED);
            assert_eq!(n, 9, "at {f}");
            assert!(
                (cx - 12.0).abs() < 0.01 && (cy - y).abs() <= 0.5,
                "at {f}: {cx} {cy}"
            );
        }
    }

    #[test]
    fn an_object_the_frame_underneath_kept_is_left_as_it_is() {
        const RED: [f32; 3] = [1.0, 0.0, 0.0];
        let (a, b) = (
            frame_with(&cross(6, 12, 4, false), RED),
            frame_with(&cross(14, 12, 4, false), RED),
        );
        // Underneath: the plus moved a quarter of the way, but a pixel darker than either key.
        let mut under = frame_with(&cross(8, 12, 4, false), [0.9, 0.0, 0.0]);
        let before = under.clone();
        PairLayers::estimate(&a, &b, SIZE).draw(&a, &b, SIZE, 0.25, &mut under);
        assert_eq!(under, before);
    }

    #[test]
    fn a_growing_object_is_drawn_at_an_in_between_size() {
        const RED: [f32; 3] = [1.0, 0.0, 0.0];
        let square = |x: i64, side: i64| -> Vec<(i64, i64)> {
            (x..x + side)
                .flat_map(|yy| (x..x + side).map(move |xx| (xx, yy)))
                .collect()
        };
        // A 5x5 square (centre 9, 9) grows to 8x8 (centre 8.5, 8.5), and the frame
        // underneath lost it.
        let (a, b) = (
            frame_with(&square(7, 5), RED),
            frame_with(&square(5, 8), RED),
        );
        let mut out = frame_with(&[], RED);
        PairLayers::estimate(&a, &b, SIZE).draw(&a, &b, SIZE, 0.5, &mut out);
        // Half way the area is (25 + 64) / 2 = 44.5: a square of about 6.7 pixels a side,
        // about the centre 8.75.
        let (n, cx, cy) = count(&out, RED);
        assert!((36..=49).contains(&n), "{n} pixels");
        assert!(
            (cx - 8.75).abs() < 0.5 && (cy - 8.75).abs() < 0.5,
            "{cx} {cy}"
        );
    }

    #[test]
    fn two_objects_keep_their_own_colours_and_paths() {
        const RED: [f32; 3] = [1.0, 0.0, 0.0];
        const BLUE: [f32; 3] = [0.0, 0.2, 1.0];
        let square = |x: i64, y: i64| -> Vec<(i64, i64)> {
            (y..y + 4)
                .flat_map(|yy| (x..x + 4).map(move |xx| (xx, yy)))
                .collect()
        };
        let mut a = frame_with(&square(2, 2), RED);
        paint(&mut a, &square(16, 16), BLUE);
        let mut b = frame_with(&square(10, 2), RED);
        paint(&mut b, &square(16, 8), BLUE);
        let layers = PairLayers::estimate(&a, &b, SIZE);
        assert_eq!(layers.objects(), 2);
        let mut out = blend(&a, &b, 0.5);
        layers.draw(&a, &b, SIZE, 0.5, &mut out);
        let (n, cx, cy) = count(&out, RED);
        assert_eq!((n, cx, cy), (16, 7.5, 3.5));
        let (n, cx, cy) = count(&out, BLUE);
        assert_eq!((n, cx, cy), (16, 17.5, 13.5));
    }

    #[test]
    fn objects_run_together_are_not_carried() {
        // A red bar 14 pixels tall (more than 0.45 of the 24-pixel frame): no single object.
        let bar: Vec<(i64, i64)> = (4..18).flat_map(|y| [(10, y), (11, y)]).collect();
        assert!(
            Layers::of(&frame_with(&bar, [1.0, 0.0, 0.0]), SIZE)
                .regions
                .is_empty()
        );
    }

    #[test]
    fn unlike_regions_are_not_taken_for_one_object() {
        // A red object in one frame and a green one of another size in the other: an object
        // leaving and another arriving, left to the frame underneath.
        let a = frame_with(&cross(6, 12, 3, false), [1.0, 0.0, 0.0]);
        let b = frame_with(&cross(14, 12, 3, false), [0.0, 1.0, 0.0]);
        assert_eq!(PairLayers::estimate(&a, &b, SIZE).objects(), 0);
        // A background of horizontal stripes holds no object at all.
        let mut stripes = vec![0.0f32; SIZE.height * SIZE.width * 3];
        for (i, px) in stripes.chunks_exact_mut(3).enumerate() {
            let v = if (i / SIZE.width).is_multiple_of(3) {
                0.9
            } else {
                0.2
            };
            px.copy_from_slice(&[v * 0.3, v * 0.5, v]);
        }
        assert!(Layers::of(&stripes, SIZE).regions.is_empty());
    }
}
