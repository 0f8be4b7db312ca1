"""Make the golden fixtures for the Wan VAE (crates/kino-models/src/vae) from the reference.

Runs diffusers' AutoencoderKLWan (float32, CPU) on fixed seeded inputs:

- `wan_tiny`: the wan-tiny VAE (tests/fixtures/wan-tiny/vae: base_dim 4, z_dim 4,
  dim_mult [1, 2, 2, 2], temporal downsampling [False, True, True]) decoding a (1, 4, 3, 3, 5)
  latent into 9 frames of 24x40, and encoding a 9-frame 24x40 video.
- `small_b`: a second tiny VAE built here (base_dim 4, z_dim 3, dim_mult [1, 3, 2],
  num_res_blocks 2, temperal_downsample [True, False]: 4x spatial, 2x temporal) with random
  weights, saved under tests/fixtures/vae/small_b/vae/, decoding a (1, 3, 3, 5, 3) latent into
  5 frames of 20x12, and encoding a 5-frame 20x12 video.

Each case records `decode_in` (the latent), `decode_out` (AutoencoderKLWan.decode(z).sample),
`denorm_out` (the latent after the pipeline's un-normalisation `z / (1 / std) + mean`, as in
pipeline_wan.py), `encode_in` (a video in [-1, 1]), `encode_mean` and `encode_logvar`
(encode(x).latent_dist: mean is the mode) and `normalized` (the image-to-video pipeline's
`(mean - latents_mean) * (1 / std)`).

usage (from the repository root):
    ~/.cache/kino-reference/bin/python tools/reference/make_vae_fixtures.py

Writes tests/fixtures/vae/<case>.safetensors and tests/fixtures/vae/manifest.json.
"""

import json
import pathlib
import platform
import struct

import diffusers
import numpy as np
import torch
from diffusers import AutoencoderKLWan

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "vae"
SCRIPT = "tools/reference/make_vae_fixtures.py"
SEED = 20250604

SMALL_B = dict(
    base_dim=4,
    z_dim=3,
    dim_mult=[1, 3, 2],
    num_res_blocks=2,
    attn_scales=[],
    temperal_downsample=[True, False],
    latents_mean=[0.5, -0.25, 1.0],
    latents_std=[1.5, 0.75, 2.5],
)


def save_safetensors(path, tensors, metadata):
    """A .safetensors file with a sorted header, so that regenerating gives the same bytes."""
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().to(torch.float32)
        data = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def run_case(vae, latent_shape, video_shape, gen):
    cfg = vae.config
    z = torch.randn(latent_shape, generator=gen)
    x = torch.rand(video_shape, generator=gen) * 2 - 1
    with torch.no_grad():
        dec = vae.decode(z).sample
        # Causality, checked here so that the Rust invariant test asserts something true:
        # decoding the first latent frames gives the first frames of the longer decode.
        dec1 = vae.decode(z[:, :, :1]).sample
        assert torch.equal(dec1, dec[:, :, :1]), "decode of T'=1 is not a prefix"
        post = vae.encode(x).latent_dist
        enc1 = vae.encode(x[:, :, :1]).latent_dist.mean
        assert torch.allclose(enc1, post.mean[:, :, :1], atol=1e-6), "encode of 1 frame is not a prefix"
    shape = (1, cfg.z_dim, 1, 1, 1)
    mean = torch.tensor(cfg.latents_mean).view(shape)
    inv_std = 1.0 / torch.tensor(cfg.latents_std).view(shape)
    return {
        "decode_in": z,
        "decode_out": dec,
        "denorm_out": z / inv_std + mean,
        "encode_in": x,
        "encode_mean": post.mean,
        "encode_logvar": post.logvar,
        "normalized": (post.mean - mean) * inv_std,
    }


def main():
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    versions = {
        "diffusers": diffusers.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    manifest = {"script": SCRIPT, "seed": SEED, "versions": versions, "cases": {}}

    tiny = AutoencoderKLWan.from_pretrained(ROOT / "tests/fixtures/wan-tiny/vae", torch_dtype=torch.float32).eval()
    small_dir = OUT / "small_b" / "vae"
    small = AutoencoderKLWan(**SMALL_B).eval()
    # Random non-trivial norm gains, so that a wrong gamma layout would show.
    with torch.no_grad():
        for name, p in small.named_parameters():
            if name.endswith("gamma"):
                p.copy_(1.0 + 0.25 * torch.randn(p.shape, generator=gen))
    small.save_pretrained(small_dir, safe_serialization=True)
    for f in small_dir.iterdir():
        f.chmod(0o644)

    cases = {
        "wan_tiny": (tiny, "tests/fixtures/wan-tiny/vae", (1, 4, 3, 3, 5), (1, 3, 9, 24, 40)),
        "small_b": (small, "tests/fixtures/vae/small_b/vae", (1, 3, 3, 5, 3), (1, 3, 5, 20, 12)),
    }
    for name, (vae, model_dir, latent_shape, video_shape) in cases.items():
        tensors = run_case(vae, latent_shape, video_shape, gen)
        config = {k: v for k, v in dict(vae.config).items() if not k.startswith("_")}
        meta = {
            "script": SCRIPT,
            "reference": "diffusers AutoencoderKLWan.decode / .encode (float32, CPU)",
            "model_dir": model_dir,
            "seed": str(SEED),
            "versions": json.dumps(versions, sort_keys=True),
        }
        save_safetensors(OUT / f"{name}.safetensors", tensors, meta)
        manifest["cases"][name] = {
            "model_dir": model_dir,
            "config": config,
            "shapes": {k: list(v.shape) for k, v in sorted(tensors.items())},
        }
        print(name, {k: list(v.shape) for k, v in tensors.items()})
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    # attn_scales: the reference's decoder ignores it, and its encoder puts WanAttentionBlocks in
    # down_blocks but calls them with feat_cache arguments they do not take. Record what happens.
    attn = AutoencoderKLWan(**{**SMALL_B, "attn_scales": [1.0]}).eval()
    try:
        with torch.no_grad():
            attn.encode(torch.zeros(1, 3, 1, 8, 8))
        print("attn_scales=[1.0]: encode works")
    except TypeError as e:
        print("attn_scales=[1.0]: encode raises TypeError:", e)


if __name__ == "__main__":
    main()
