//! The feature cache of the chunked causal encode and decode.

use candle_core::{Result, Tensor};

use super::causal_conv3d::{WanCausalConv3d, last_frames};

/// Frames each cached convolution keeps from the previous chunk (`CACHE_T` in the reference):
/// a temporal kernel of 3 needs the 2 frames before the chunk.
pub(crate) const CACHE_T: usize = 2;

/// One cache slot, as an entry of the reference's `feat_cache` list.
#[derive(Debug, Clone, Default)]
pub(crate) enum Slot {
    /// Nothing yet (the reference's `None`): this is the first chunk.
    #[default]
    Empty,
    /// The reference's `"Rep"` marker, set by a temporal upsample on the first chunk, which it
    /// passes through without its time convolution; afterwards it acts as zero padding.
    Rep,
    /// The last frames of the previous chunks' input to this layer.
    Frames(Tensor),
}

/// The state carried from one time chunk to the next: one slot per cached layer, visited in
/// the same order on every chunk (the reference's `feat_cache` list and `feat_idx` counter).
/// Each encode or decode call makes its own, so nothing is shared between calls; callers
/// driving the layers themselves make one with `FeatCache::default()` per clip and call
/// [`start_chunk`](Self::start_chunk) before each chunk.
#[derive(Debug, Default)]
pub struct FeatCache {
    slots: Vec<Slot>,
    idx: usize,
}

impl FeatCache {
    /// Starts the next chunk: the layers will visit the slots from the first again.
    pub fn start_chunk(&mut self) {
        self.idx = 0;
    }

    /// The next layer's slot (created empty on the first chunk).
    pub(crate) fn next_slot(&mut self) -> &mut Slot {
        if self.idx == self.slots.len() {
            self.slots.push(Slot::Empty);
        }
        self.idx += 1;
        &mut self.slots[self.idx - 1]
    }

    /// Runs a causal convolution on a chunk, reading the previous chunks' last frames from the
    /// next slot and storing this chunk's: the reference's pattern around every cached
    /// `WanCausalConv3d` call.
    pub(crate) fn conv(&mut self, conv: &WanCausalConv3d, x: &Tensor) -> Result<Tensor> {
        let slot = self.next_slot();
        let prev = match slot {
            Slot::Frames(t) => Some(t.clone()),
            Slot::Empty | Slot::Rep => None,
        };
        let keep = keep_frames(x, prev.as_ref())?;
        let y = conv.forward_cached(x, prev.as_ref())?;
        *slot = Slot::Frames(keep);
        Ok(y)
    }
}

/// The frames to cache after a chunk `x`: its last `CACHE_T`, or, when it is shorter, the last
/// frame of the previous cache followed by `x`.
pub(crate) fn keep_frames(x: &Tensor, prev: Option<&Tensor>) -> Result<Tensor> {
    let tail = last_frames(x, CACHE_T)?;
    match prev {
        Some(p) if tail.dim(2)? < CACHE_T => Tensor::cat(&[&last_frames(p, 1)?, &tail], 2),
        _ => Ok(tail),
    }
}
