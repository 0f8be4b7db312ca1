"""Make tests/fixtures/dit: parity fixtures for the Wan DiT (diffusers' WanTransformer3DModel).

Two models, both float32 on CPU:

- `wan_tiny`: the transformer of tests/fixtures/wan-tiny (sharded; heads 2 x head dim 16, so the
  RoPE split is t/h/w = 8/4/4), patch (1, 2, 2), cross_attn_norm true, 2 layers.
- `wan_dit_b`: a second config built here and saved with `save_pretrained` into
  tests/fixtures/dit/wan_dit_b/ (heads 2 x head dim 20, so the split is 8/6/6 with an odd
  number of frequencies per axis; patch (2, 2, 1); in 5 / out 3 channels; text_dim 24;
  freq_dim 12; 3 layers; cross_attn_norm false; eps 1e-5).

Each is run on a fixed seeded latent, a seeded text embedding and a batch of two timesteps (one
fractional), with `return_dict=False`. Saved per case (`<case>.safetensors`): the inputs
(`latents`, `timestep`, `encoder_hidden_states`), the output (`output`), and intermediates from
forward hooks: `temb` and `timestep_proj` and the projected text (`condition_embedder` outputs),
`rope_cos`/`rope_sin` (`rope` outputs), `patch_embedding` (output of the Conv3d), `block0`
(output of the first block). Header metadata and manifest.json name the script, versions,
config and seed.

usage (from the repository root):
    ~/.cache/kino-reference/bin/python tools/reference/make_dit_fixtures.py
"""

import json
import pathlib
import platform
import shutil
import struct

import diffusers
import torch
import transformers
from diffusers import WanTransformer3DModel

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "dit"
SCRIPT = "tools/reference/make_dit_fixtures.py"
SEED = 20250603

CONFIG_B = dict(
    patch_size=(2, 2, 1),
    num_attention_heads=2,
    attention_head_dim=20,
    in_channels=5,
    out_channels=3,
    text_dim=24,
    freq_dim=12,
    ffn_dim=40,
    num_layers=3,
    cross_attn_norm=False,
    qk_norm="rms_norm_across_heads",
    eps=1e-5,
    image_dim=None,
    added_kv_proj_dim=None,
    rope_max_seq_len=64,
    pos_embed_seq_len=None,
)

# (case, latent shape (B, C, T, H, W), text length, timesteps)
CASES = [
    ("wan_tiny", (2, 4, 3, 6, 10), 9, [999.0, 250.5]),
    ("wan_dit_b", (2, 5, 6, 6, 5), 7, [871.25, 3.0]),
]


def save_safetensors(path, tensors, metadata):
    """Write a .safetensors file with a sorted header, so that regenerating gives the same bytes."""
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous()
        data = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def build_b():
    torch.manual_seed(SEED)
    model = WanTransformer3DModel(**CONFIG_B).eval()
    # diffusers initialises some tensors to zero or one; randomise every parameter so that each
    # one matters to the output (norm weights near 1, the rest small).
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm_q.weight") or name.endswith("norm_k.weight") or name.endswith("norm2.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))
    dest = OUT / "wan_dit_b"
    model.save_pretrained(dest)
    return WanTransformer3DModel.from_pretrained(dest, torch_dtype=torch.float32).eval()


def run_case(name, model, latent_shape, text_len, timesteps):
    gen = torch.Generator().manual_seed(SEED + len(name))
    latents = torch.randn(latent_shape, generator=gen)
    text = torch.randn((latent_shape[0], text_len, model.config.text_dim), generator=gen)
    timestep = torch.tensor(timesteps, dtype=torch.float32)

    captured = {}

    def grab(key):
        def hook(_module, _inputs, output):
            captured[key] = output

        return hook

    hooks = [
        model.rope.register_forward_hook(grab("rope")),
        model.patch_embedding.register_forward_hook(grab("patch_embedding")),
        model.condition_embedder.register_forward_hook(grab("condition")),
        model.blocks[0].register_forward_hook(grab("block0")),
    ]
    with torch.no_grad():
        (output,) = model(latents, timestep, text, return_dict=False)
    for h in hooks:
        h.remove()

    temb, timestep_proj, text_proj, _ = captured["condition"]
    rope_cos, rope_sin = captured["rope"]
    tensors = {
        "latents": latents,
        "timestep": timestep,
        "encoder_hidden_states": text,
        "output": output,
        "temb": temb,
        "timestep_proj": timestep_proj,
        "text_proj": text_proj,
        # (1, N, 1, head_dim) -> (N, head_dim)
        "rope_cos": rope_cos[0, :, 0, :],
        "rope_sin": rope_sin[0, :, 0, :],
        "patch_embedding": captured["patch_embedding"],
        "block0": captured["block0"],
    }
    return tensors


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    versions = {
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    models = {
        "wan_tiny": (
            WanTransformer3DModel.from_pretrained(ROOT / "tests/fixtures/wan-tiny/transformer", torch_dtype=torch.float32).eval(),
            "tests/fixtures/wan-tiny/transformer",
        ),
        "wan_dit_b": (build_b(), "tests/fixtures/dit/wan_dit_b"),
    }
    manifest = {"script": SCRIPT, "seed": SEED, "versions": versions, "cases": {}}
    for name, latent_shape, text_len, timesteps in CASES:
        model, model_dir = models[name]
        tensors = run_case(name, model, latent_shape, text_len, timesteps)
        config = {k: v for k, v in dict(model.config).items() if not k.startswith("_")}
        metadata = {
            "script": SCRIPT,
            "reference": "diffusers.WanTransformer3DModel.forward",
            "model_dir": model_dir,
            "seed": str(SEED),
            "versions": json.dumps(versions, sort_keys=True),
            "config": json.dumps(config, sort_keys=True, default=list),
        }
        save_safetensors(OUT / f"{name}.safetensors", tensors, metadata)
        manifest["cases"][name] = {
            "file": f"{name}.safetensors",
            "model_dir": model_dir,
            "latents": list(latent_shape),
            "text_len": text_len,
            "timesteps": timesteps,
            "output_abs_max": float(tensors["output"].abs().max()),
        }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT} ({total} bytes)")


if __name__ == "__main__":
    main()
