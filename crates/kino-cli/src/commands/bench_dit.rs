//! `kino bench dit`: seconds per denoising forward of the Wan DiT, with random weights of a
//! real shape, printed in the same key=value lines as `tools/reference/bench_dit.py`.

use crate::cli::{BenchDitArgs, DitDtypeArg, DitPresetArg};
use anyhow::Context;
use candle_core::{DType, Device, Tensor};
use kino_models::{RandomWeights, WanTransformerConfig, dit::WanTransformer3D};
use std::time::Instant;

/// The text length the pipeline pads umT5's output to.
const TEXT_LEN: usize = 512;
/// Latent channels of Wan 2.1's VAE.
const LATENT_CHANNELS: usize = 16;

/// Builds the preset with random weights, runs one untimed forward, then times `repeat`.
pub fn run(args: &BenchDitArgs, quiet: bool) -> anyhow::Result<()> {
    if args.frames == 0 || !(args.frames - 1).is_multiple_of(4) {
        crate::usage_bail!(
            "--frames must be 4k+1 (1, 5, 9, ..., 81), got {}",
            args.frames
        );
    }
    if args.height == 0
        || args.width == 0
        || !args.height.is_multiple_of(16)
        || !args.width.is_multiple_of(16)
    {
        crate::usage_bail!(
            "--height and --width must be positive multiples of 16, got {}x{}",
            args.height,
            args.width
        );
    }
    if args.repeat == 0 {
        crate::usage_bail!("--repeat must be at least 1");
    }
    let cfg = preset(args.preset);
    let (dtype, dtype_name) = match args.dtype {
        DitDtypeArg::F32 => (DType::F32, "f32"),
        DitDtypeArg::Bf16 => (DType::BF16, "bf16"),
    };
    let device = Device::Cpu;

    let start = Instant::now();
    let vb = RandomWeights::new(args.seed).into_var_builder(dtype, &device);
    let model = WanTransformer3D::new(&cfg, vb).context("building the transformer")?;
    if !quiet {
        eprintln!("random weights: {:.1} s", start.elapsed().as_secs_f64());
    }

    // (B, C, T', H/8, W/8) latents, as the VAE makes them for F frames.
    let t = (args.frames as usize - 1) / 4 + 1;
    let (h, w) = (args.height as usize / 8, args.width as usize / 8);
    let inputs = RandomWeights::new(args.seed.wrapping_add(1));
    let latents = inputs.tensor(
        "latents",
        &(1, LATENT_CHANNELS, t, h, w).into(),
        dtype,
        &device,
    )?;
    let text = inputs.tensor("text", &(1, TEXT_LEN, cfg.text_dim).into(), dtype, &device)?;
    let timestep = Tensor::new(&[999f32], &device)?;
    let [pt, ph, pw] = cfg.patch();
    let tokens = (t / pt) * (h / ph) * (w / pw);

    let forward = || -> anyhow::Result<f64> {
        let start = Instant::now();
        let flow = model
            .forward(&latents, &timestep, &text)
            .map_err(|e| explain(e, dtype))?;
        anyhow::ensure!(
            flow.dims() == latents.dims(),
            "flow shape {:?}",
            flow.dims()
        );
        Ok(start.elapsed().as_secs_f64())
    };
    let warm_up = forward()?;
    if !quiet {
        eprintln!("warm-up forward: {warm_up:.2} s");
    }
    let mut total = 0.0;
    for run in 0..args.repeat {
        let seconds = forward()?;
        total += seconds;
        if !quiet {
            eprintln!("forward {}: {seconds:.2} s", run + 1);
        }
    }
    let params: usize = model_params(&cfg);
    say!(
        "implementation=kino preset={} dtype={dtype_name} params={params}",
        preset_name(args.preset)
    );
    say!(
        "frames={} height={} width={} tokens={tokens} text_len={TEXT_LEN}",
        args.frames,
        args.height,
        args.width
    );
    say!(
        "threads={} repeat={}",
        candle_core::utils::get_num_threads(),
        args.repeat
    );
    say!("seconds_per_forward={:.3}", total / f64::from(args.repeat));
    match peak_rss_mb() {
        Some(mb) => say!("peak_rss_mb={mb:.0}"),
        None => say!("peak_rss_mb=unknown"),
    }
    Ok(())
}

/// The architecture of a `--preset`.
fn preset(p: DitPresetArg) -> WanTransformerConfig {
    match p {
        DitPresetArg::Wan1_3b => WanTransformerConfig::t2v_1_3b(),
        // Mirrored by "tiny" in tools/reference/bench_dit.py.
        DitPresetArg::Tiny => WanTransformerConfig {
            num_attention_heads: 2,
            attention_head_dim: 12,
            text_dim: 32,
            freq_dim: 16,
            ffn_dim: 48,
            num_layers: 2,
            ..WanTransformerConfig::t2v_1_3b()
        },
    }
}

fn preset_name(p: DitPresetArg) -> &'static str {
    match p {
        DitPresetArg::Wan1_3b => "wan-1.3b",
        DitPresetArg::Tiny => "tiny",
    }
}

/// Parameter count of the text-to-video DiT, as `sum(p.numel())` counts it in diffusers.
fn model_params(cfg: &WanTransformerConfig) -> usize {
    let d = cfg.inner_dim();
    let [pt, ph, pw] = cfg.patch();
    let patch = pt * ph * pw;
    let linear = |i: usize, o: usize| i * o + o;
    let patch_embedding = cfg.in_channels * patch * d + d;
    let condition = linear(cfg.freq_dim, d)
        + linear(d, d)
        + linear(d, 6 * d)
        + linear(cfg.text_dim, d)
        + linear(d, d);
    // attn1 and attn2: q, k, v, out projections plus q/k RMS norms; norm2 (cross_attn_norm)
    // is an affine LayerNorm; feed-forward; the block's scale_shift_table (6, dim).
    let attention = 4 * linear(d, d) + 2 * d;
    let norm2 = if cfg.cross_attn_norm { 2 * d } else { 0 };
    let block = 2 * attention + norm2 + linear(d, cfg.ffn_dim) + linear(cfg.ffn_dim, d) + 6 * d;
    let head = linear(d, patch * cfg.out_channels()) + 2 * d;
    patch_embedding + condition + cfg.num_layers * block + head
}

/// Says plainly when the failure is candle's CPU backend lacking a bf16 kernel.
fn explain(e: candle_core::Error, dtype: DType) -> anyhow::Error {
    let text = e.to_string();
    if dtype == DType::BF16 && text.to_lowercase().contains("bf16") {
        anyhow::anyhow!("bf16 is not supported by candle's CPU backend for this forward: {text}")
    } else {
        anyhow::Error::new(e).context("transformer forward")
    }
}

/// The process's peak resident set (VmHWM in /proc/self/status), in MiB; None off Linux.
pub(crate) fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
