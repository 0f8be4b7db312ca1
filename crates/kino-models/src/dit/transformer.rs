//! The whole DiT, diffusers' `WanTransformer3DModel` (text-to-video): patchify, embed, run the
//! blocks, modulated output head, unpatchify.

use candle_core::{DType, Result, Tensor};
use candle_nn::{Module, VarBuilder};

use crate::linear::{Linear, linear};

use super::attention::AttentionTiles;
use super::block::{WanTransformerBlock, layer_norm, modulate};
use super::embeddings::{Conditions, PatchEmbedding, WanTimeTextEmbedding};
use super::rope::{RopeTables, WanRotaryPosEmbed};
use crate::WanTransformerConfig;

/// diffusers' `WanTransformer3DModel` for text-to-video (Wan 2.1 T2V 1.3B and 14B, and any
/// config of that kind). Runs in the dtype of the `VarBuilder` it is loaded from; as in the
/// reference, the time embedder, the `scale_shift_table`s and `norm2` are kept in f32, and the
/// norms, modulation and gated residuals are computed in f32.
#[derive(Debug, Clone)]
pub struct WanTransformer3D {
    cfg: WanTransformerConfig,
    rope: WanRotaryPosEmbed,
    patch_embedding: PatchEmbedding,
    condition_embedder: WanTimeTextEmbedding,
    blocks: Vec<WanTransformerBlock>,
    proj_out: Linear,
    scale_shift_table: Tensor,
    dtype: DType,
}

impl WanTransformer3D {
    /// Validates `cfg` and loads every tensor by the reference's name, each checked against
    /// the shape `cfg` implies (a mismatch names the tensor, its file and both shapes).
    pub fn new(cfg: &WanTransformerConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate()
            .map_err(|issue| candle_core::Error::Msg(format!("transformer config: {issue}")))?;
        let dim = cfg.inner_dim();
        let [pt, ph, pw] = cfg.patch();
        let blocks = (0..cfg.num_layers)
            .map(|i| WanTransformerBlock::new(cfg, vb.pp("blocks").pp(i)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            cfg: cfg.clone(),
            rope: WanRotaryPosEmbed::new(cfg),
            patch_embedding: PatchEmbedding::new(cfg, vb.pp("patch_embedding"))?,
            condition_embedder: WanTimeTextEmbedding::new(cfg, vb.pp("condition_embedder"))?,
            blocks,
            proj_out: linear(dim, cfg.out_channels() * pt * ph * pw, vb.pp("proj_out"))?,
            scale_shift_table: vb
                .to_dtype(DType::F32)
                .get((1, 2, dim), "scale_shift_table")?,
            dtype: vb.dtype(),
        })
    }

    /// The dtype the model computes in (its `VarBuilder`'s).
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The config the model was built from.
    pub fn config(&self) -> &WanTransformerConfig {
        &self.cfg
    }

    /// Sets the tile sizes of every attention layer (default [`AttentionTiles::default`]);
    /// smaller tiles use less memory.
    pub fn set_attention_tiles(&mut self, tiles: AttentionTiles) {
        for block in &mut self.blocks {
            block.set_attention_tiles(tiles);
        }
    }

    /// The RoPE module.
    pub fn rope(&self) -> &WanRotaryPosEmbed {
        &self.rope
    }

    /// The patch embedding.
    pub fn patch_embedding(&self) -> &PatchEmbedding {
        &self.patch_embedding
    }

    /// The timestep and text embeddings.
    pub fn condition_embedder(&self) -> &WanTimeTextEmbedding {
        &self.condition_embedder
    }

    /// The blocks, in order.
    pub fn blocks(&self) -> &[WanTransformerBlock] {
        &self.blocks
    }

    /// Predicts the flow (velocity) for `latents` `(B, C_in, T, H, W)` at `timestep` `(B,)`
    /// (the scheduler's timesteps, 0..1000, may be fractional) given the text encoder's output
    /// `text` `(B, L, text_dim)`; returns `(B, C_out, T, H, W)`. T, H, W must be multiples of
    /// the patch size. The latents and text are cast to the model's dtype, and the result is
    /// in that dtype (as the reference pipeline casts them to the transformer's dtype).
    pub fn forward(&self, latents: &Tensor, timestep: &Tensor, text: &Tensor) -> Result<Tensor> {
        Ok(self.forward_tapped(latents, timestep, text, None)?.0)
    }

    /// [`WanTransformer3D::forward`], also returning the patch tokens `(B, N, dim)` as they
    /// leave the first `tap` blocks (`tap` at most the block count; 0: the embedded patches),
    /// for training objectives that read the DiT's intermediate representation.
    pub fn forward_tapped(
        &self,
        latents: &Tensor,
        timestep: &Tensor,
        text: &Tensor,
        tap: Option<usize>,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let (b, _, t, h, w) = latents.dims5()?;
        if let Some(tap) = tap
            && tap > self.blocks.len()
        {
            candle_core::bail!(
                "transformer: tokens after block {tap} asked of a transformer of {} blocks",
                self.blocks.len()
            );
        }
        let [pt, ph, pw] = self.cfg.patch();
        if timestep.dims() != [b] {
            candle_core::bail!(
                "transformer: timestep has shape {:?}, expected ({b},) for a batch of {b}",
                timestep.dims()
            );
        }
        let (tb, _, td) = text.dims3()?;
        if tb != b || td != self.cfg.text_dim {
            candle_core::bail!(
                "transformer: text embeddings have shape {:?}, expected ({b}, L, {})",
                text.dims(),
                self.cfg.text_dim
            );
        }
        let grid = [t / pt, h / ph, w / pw];
        let latents = &latents.to_dtype(self.dtype)?;
        let text = &text.to_dtype(self.dtype)?;

        let x = self.patch_embedding.forward(latents)?; // (B, N, dim)
        let rope_tables = self.rope.forward(grid, latents.device())?;
        let conditions = self.condition_embedder.forward(timestep, text)?;
        let (x, tapped) = self.run_blocks(x, &conditions, &rope_tables, tap)?;
        let out = self.head(&x, &conditions.temb)?; // (B, N, pt*ph*pw*C_out)

        // (B, N, pt*ph*pw*C) -> (B, T', H', W', pt, ph, pw, C) -> (B, C, T', pt, H', ph, W', pw)
        let c = self.cfg.out_channels();
        let out = out
            .reshape(vec![b, grid[0], grid[1], grid[2], pt, ph, pw, c])?
            .permute(vec![0, 7, 1, 4, 2, 5, 3, 6])?
            .contiguous()?
            .reshape((b, c, t, h, w))?;
        Ok((out, tapped))
    }

    /// Runs every block on the patch tokens `x` `(B, N, dim)`; with `tap` `Some(k)`, also
    /// returns the tokens as they leave the first `k` blocks.
    pub fn run_blocks(
        &self,
        mut x: Tensor,
        conditions: &Conditions,
        rope_tables: &RopeTables,
        tap: Option<usize>,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let mut tapped = (tap == Some(0)).then(|| x.clone());
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(&x, &conditions.text, &conditions.timestep_proj, rope_tables)?;
            if tap == Some(i + 1) {
                tapped = Some(x.clone());
            }
        }
        Ok((x, tapped))
    }

    /// The output head: `norm_out` (LayerNorm without weights) modulated by
    /// `scale_shift_table + temb` (shift, scale), then `proj_out`. `(B, N, dim)` ->
    /// `(B, N, pt*ph*pw*C_out)`.
    pub fn head(&self, x: &Tensor, temb: &Tensor) -> Result<Tensor> {
        // (1, 2, dim) + (B, 1, dim) -> (B, 2, dim) -> shift, scale (B, 1, dim)
        let table = self
            .scale_shift_table
            .to_dtype(DType::F32)?
            .broadcast_add(&temb.to_dtype(DType::F32)?.unsqueeze(1)?)?;
        let m = table.chunk(2, 1)?;
        let normed = layer_norm(&x.to_dtype(DType::F32)?, None, self.cfg.eps)?;
        let normed = modulate(&normed, &m[0], &m[1])?.to_dtype(x.dtype())?;
        self.proj_out.forward(&normed)
    }
}
