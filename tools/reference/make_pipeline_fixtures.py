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

Video-to-video (`v2v_unipc`): diffusers' WanVideoToVideoPipeline with the same components and
the model's UniPC, given a 9-frame 32x48 clip (a square sliding over a gradient, as uint8 PIL
frames), strength 0.5 of 6 steps, guidance 5 with a negative prompt. The pipeline draws its
noise from a generator seeded with V2V_SEED; the script draws the same noise from a second
generator with that seed and records it. The file also holds the input `video` (T, H, W, 3) in
[0, 1] (the uint8 frames / 255).

usage (from the repository root):
    ~/.cache/kino-reference/bin/python tools/reference/make_pipeline_fixtures.py [CASE ...]

With case names, only those are (re)made and manifest.json keeps the others' entries (torch
builds differ in their last bits, so remaking a committed case rewrites its bytes).

The video-to-video pipeline cleans prompts with `ftfy.fix_text`, and the pinned environment
has no ftfy: for the ASCII prompts here it is the identity, which the script puts in its place.

Writes tests/fixtures/pipeline/<case>.safetensors and tests/fixtures/pipeline/manifest.json.
"""

import json
import pathlib
import platform
import struct
import types

import diffusers
import numpy as np
import torch
import transformers
from diffusers import FlowMatchEulerDiscreteScheduler, WanPipeline, WanVideoToVideoPipeline
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL = ROOT / "tests" / "fixtures" / "wan-tiny"
OUT = ROOT / "tests" / "fixtures" / "pipeline"
SCRIPT = "tools/reference/make_pipeline_fixtures.py"
SEED = 20250610
V2V_SEED = 20261203

V2V_CASE = dict(
    prompt="a red ball moves left on the green sky",
    negative_prompt="blue cube",
    height=32,
    width=48,
    num_frames=9,
    num_inference_steps=6,
    strength=0.5,
    guidance_scale=5.0,
    max_sequence_length=512,
    scheduler="unipc",
    flow_shift=3.0,
)


def v2v_video(case):
    """uint8 frames (T, H, W, 3): a gradient backdrop and a light square sliding right."""
    t, h, w = case["num_frames"], case["height"], case["width"]
    y, x = np.mgrid[0:h, 0:w]
    frames = np.zeros((t, h, w, 3), dtype=np.uint8)
    for i in range(t):
        frames[i, ..., 0] = (40 + 150 * x / w).astype(np.uint8)
        frames[i, ..., 1] = (60 + 120 * y / h).astype(np.uint8)
        frames[i, ..., 2] = 90
        x0 = 4 + 3 * i
        frames[i, 10:22, x0 : x0 + 12] = (230, 220, 60)
    return frames

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


def main(only):
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
    if only and (OUT / "manifest.json").is_file():
        manifest["cases"] = json.loads((OUT / "manifest.json").read_text())["cases"]
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
        if only and name not in only:
            continue  # its noise is drawn all the same, so later cases keep theirs
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
    if not only or "v2v_unipc" in only:
        video_to_video(pipe, unipc, versions, manifest)
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def video_to_video(pipe, unipc, versions, manifest):
    """The `v2v_unipc` case (see the module docstring)."""
    import diffusers.pipelines.wan.pipeline_wan_video2video as v2v_module

    if not hasattr(v2v_module, "ftfy"):
        v2v_module.ftfy = types.SimpleNamespace(fix_text=lambda text: text)
    case = V2V_CASE
    v2v = WanVideoToVideoPipeline(
        tokenizer=pipe.tokenizer,
        text_encoder=pipe.text_encoder,
        transformer=pipe.transformer,
        vae=pipe.vae,
        scheduler=unipc.__class__.from_config(unipc.config, flow_shift=case["flow_shift"]),
    )
    frames_u8 = v2v_video(case)
    z = pipe.vae.config.z_dim
    t_lat = (case["num_frames"] - 1) // pipe.vae_scale_factor_temporal + 1
    s = pipe.vae_scale_factor_spatial
    shape = (1, z, t_lat, case["height"] // s, case["width"] // s)
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(V2V_SEED))
    with torch.no_grad():
        frames = v2v(
            video=[Image.fromarray(f) for f in frames_u8],
            prompt=case["prompt"],
            negative_prompt=case["negative_prompt"],
            height=case["height"],
            width=case["width"],
            num_inference_steps=case["num_inference_steps"],
            strength=case["strength"],
            guidance_scale=case["guidance_scale"],
            max_sequence_length=case["max_sequence_length"],
            generator=torch.Generator().manual_seed(V2V_SEED),
            output_type="np",
        ).frames[0]
    assert frames.shape == (case["num_frames"], case["height"], case["width"], 3), frames.shape
    video = frames_u8.astype(np.float32) / 255.0
    meta = {
        "script": SCRIPT,
        "reference": "diffusers WanVideoToVideoPipeline(video=PIL frames, generator seeded V2V_SEED, "
        "output_type='np').frames[0] (float32, CPU); noise: the same generator's draw",
        "model_dir": "tests/fixtures/wan-tiny",
        "request": json.dumps(case, sort_keys=True),
        "seed": str(V2V_SEED),
        "versions": json.dumps(versions, sort_keys=True),
    }
    save_safetensors(OUT / "v2v_unipc.safetensors", {"noise": noise, "frames": frames, "video": video}, meta)
    manifest["cases"]["v2v_unipc"] = {
        "request": case,
        "shapes": {"noise": list(noise.shape), "frames": list(frames.shape), "video": list(video.shape)},
        "frames_range": [float(frames.min()), float(frames.max())],
    }
    print("v2v_unipc", list(noise.shape), frames.shape, float(frames.min()), float(frames.max()))


if __name__ == "__main__":
    import sys

    main(set(sys.argv[1:]))
