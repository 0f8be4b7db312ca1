"""Time one forward of diffusers' WanTransformer3DModel with random weights of a real shape.

The reference side of `kino bench dit`: same preset, same input shapes (batch 1, latents
(1, 16, (F-1)/4+1, H/8, W/8), timestep (1,), text (1, 512, 4096)), one untimed warm-up forward,
then `--repeat` timed forwards under torch.no_grad. Prints the same key=value lines:

    /root/.cache/kino-reference/bin/python tools/reference/bench_dit.py \
        --preset wan-1.3b --frames 17 --height 256 --width 256 --dtype f32

Versions used for the numbers in README.md: diffusers 0.42.1, torch 2.15.0 (CPU).
"""

import argparse
import resource
import time

import torch
from diffusers import WanTransformer3DModel

PRESETS = {
    # Wan-AI/Wan2.1-T2V-1.3B-Diffusers transformer/config.json
    "wan-1.3b": dict(
        patch_size=(1, 2, 2),
        num_attention_heads=12,
        attention_head_dim=128,
        in_channels=16,
        out_channels=16,
        text_dim=4096,
        freq_dim=256,
        ffn_dim=8960,
        num_layers=30,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        eps=1e-6,
        rope_max_seq_len=1024,
    ),
    # The same small shape as `kino bench dit --preset tiny`.
    "tiny": dict(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=16,
        out_channels=16,
        text_dim=32,
        freq_dim=16,
        ffn_dim=48,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        eps=1e-6,
        rope_max_seq_len=1024,
    ),
}
TEXT_LEN = 512


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="wan-1.3b")
    p.add_argument("--frames", type=int, default=17)
    p.add_argument("--height", type=int, default=256)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if (args.frames - 1) % 4 or args.height % 16 or args.width % 16 or args.repeat < 1:
        p.error("frames must be 4k+1, height and width multiples of 16, repeat >= 1")

    torch.manual_seed(args.seed)
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    cfg = PRESETS[args.preset]
    model = WanTransformer3DModel(**cfg).eval()
    if dtype != torch.float32:
        # As from_pretrained(torch_dtype=...) does: cast, but keep the modules diffusers marks
        # `_keep_in_fp32_modules` (time_embedder, scale_shift_table, norms) in f32.
        keep = set(model._keep_in_fp32_modules or [])
        for name, param in model.named_parameters():
            if not keep.intersection(name.split(".")):
                param.data = param.data.to(dtype)
    t = (args.frames - 1) // 4 + 1
    latents = torch.randn(1, 16, t, args.height // 8, args.width // 8, dtype=dtype)
    timestep = torch.tensor([999.0])
    text = torch.randn(1, TEXT_LEN, cfg["text_dim"], dtype=dtype)
    tokens = t * (args.height // 8 // 2) * (args.width // 8 // 2)
    params = sum(x.numel() for x in model.parameters())

    with torch.no_grad():
        model(latents, timestep, text, return_dict=False)  # warm-up, untimed
        start = time.perf_counter()
        for _ in range(args.repeat):
            out = model(latents, timestep, text, return_dict=False)[0]
        seconds = (time.perf_counter() - start) / args.repeat
    assert out.shape == latents.shape

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"implementation=diffusers preset={args.preset} dtype={args.dtype} params={params}")
    print(f"frames={args.frames} height={args.height} width={args.width} tokens={tokens} text_len={TEXT_LEN}")
    print(f"threads={torch.get_num_threads()} repeat={args.repeat}")
    print(f"seconds_per_forward={seconds:.3f}")
    print(f"peak_rss_mb={peak_mb:.0f}")


if __name__ == "__main__":
    main()
