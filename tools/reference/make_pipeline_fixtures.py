"""Make the end-to-end fixtures for the generation pipeline (crates/kino-pipeline) from the
reference.

Runs diffusers' WanPipeline (float32, CPU) on the wan-tiny model (tests/fixtures/wan-tiny) with
a seeded initial noise passed as `latents=`, `output_type="np"`, and records the noise and the
frames it returns:

- `unipc_cfg`: the model's own UniPCMultistepScheduler (flow_shift 3), 4 steps, guidance 5.0
  with a negative prompt, 9 frames of 32x48, max_sequence_length 512 (the default).
- `euler_nocfg`: FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=2.0) swapped in
  (what `kino generate --scheduler euler --flow-shift 2` builds), 3 steps, guidance 1.0 (no
  negative pass), 5 frames of 16x32, max_sequence_length 16.

Each `<case>.safetensors` holds `noise` (1, z, T', H/8, W/8) and `frames` (T, H, W, 3) in
[0, 1]; its header metadata and manifest.json carry the request (prompt, negative prompt,
sizes, steps, guidance, scheduler, shift, max_sequence_length) and the versions.

usage (from the repository root):
    ~/.cache/kino-reference/bin/python tools/reference/make_pipeline_fixtures.py

Writes tests/fixtures/pipeline/<case>.safetensors and tests/fixtures/pipeline/manifest.json.
"""

import json
import pathlib
import platform
import struct

import diffusers
import numpy as np
import torch
import transformers
from diffusers import FlowMatchEulerDiscreteScheduler, WanPipeline

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL = ROOT / "tests" / "fixtures" / "wan-tiny"
OUT = ROOT / "tests" / "fixtures" / "pipeline"
SCRIPT = "tools/reference/make_pipeline_fixtures.py"
SEED = 20250610

CASES = {
    "unipc_cfg": dict(
        prompt="a red ball moves left on the green sky",
        negative_prompt="blue cube",
        height=32,
        width=48,
        num_frames=9,
        num_inference_steps=4,
        guidance_scale=5.0,
        max_sequence_length=512,
        scheduler="unipc",
        flow_shift=3.0,
    ),
    "euler_nocfg": dict(
        prompt="the blue cube moves up slowly",
        negative_prompt="",
        height=16,
        width=32,
        num_frames=5,
        num_inference_steps=3,
        guidance_scale=1.0,
        max_sequence_length=16,
        scheduler="euler",
        flow_shift=2.0,
    ),
}


def save_safetensors(path, tensors, metadata):
    """A .safetensors file with a sorted header, so that regenerating gives the same bytes."""
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = torch.as_tensor(tensors[name]).detach().contiguous().to(torch.float32)
        data = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(SEED)
    versions = {
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    manifest = {"script": SCRIPT, "model_dir": "tests/fixtures/wan-tiny", "seed": SEED, "versions": versions, "cases": {}}
    pipe = WanPipeline.from_pretrained(MODEL, torch_dtype=torch.float32)
    unipc = pipe.scheduler
    for name, case in CASES.items():
        if case["scheduler"] == "unipc":
            pipe.scheduler = unipc.__class__.from_config(unipc.config, flow_shift=case["flow_shift"])
        else:
            pipe.scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=case["flow_shift"])
        z = pipe.vae.config.z_dim
        t_lat = (case["num_frames"] - 1) // pipe.vae_scale_factor_temporal + 1
        s = pipe.vae_scale_factor_spatial
        noise = torch.randn((1, z, t_lat, case["height"] // s, case["width"] // s), generator=gen)
        with torch.no_grad():
            frames = pipe(
                prompt=case["prompt"],
                negative_prompt=case["negative_prompt"],
                height=case["height"],
                width=case["width"],
                num_frames=case["num_frames"],
                num_inference_steps=case["num_inference_steps"],
                guidance_scale=case["guidance_scale"],
                max_sequence_length=case["max_sequence_length"],
                latents=noise.clone(),
                output_type="np",
            ).frames[0]  # (T, H, W, 3) float32 in [0, 1]
        assert frames.shape == (case["num_frames"], case["height"], case["width"], 3), frames.shape
        meta = {
            "script": SCRIPT,
            "reference": "diffusers WanPipeline(latents=noise, output_type='np').frames[0] (float32, CPU)",
            "model_dir": "tests/fixtures/wan-tiny",
            "request": json.dumps(case, sort_keys=True),
            "seed": str(SEED),
            "versions": json.dumps(versions, sort_keys=True),
        }
        save_safetensors(OUT / f"{name}.safetensors", {"noise": noise, "frames": frames}, meta)
        manifest["cases"][name] = {
            "request": case,
            "shapes": {"noise": list(noise.shape), "frames": list(frames.shape)},
            "frames_range": [float(frames.min()), float(frames.max())],
        }
        print(name, list(noise.shape), frames.shape, float(frames.min()), float(frames.max()))
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
