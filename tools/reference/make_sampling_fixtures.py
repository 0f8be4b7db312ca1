"""Make the golden fixtures for crates/kino-sampling from the reference schedulers.

Runs diffusers' UniPCMultistepScheduler (flow-matching configuration, as Wan 2.1 ships it) and
FlowMatchEulerDiscreteScheduler on a small fixed latent and a deterministic fake "model", and
records, for each case: the timesteps, the sigmas, and every step's model output and sample
(in and out). The Rust tests replay the recorded model outputs through our schedulers.

usage (from the repository root):
    ~/.cache/kino-reference/bin/python tools/reference/make_sampling_fixtures.py

Writes tests/fixtures/sampling/<case>.safetensors (one per case) and
tests/fixtures/sampling/manifest.json (configs, versions, how it was made).
Deterministic on CPU: running it twice gives the same bytes.
"""

import json
import math
import pathlib
import platform

import diffusers
import numpy as np
import struct
import torch
import transformers
from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "sampling"
SCRIPT = "tools/reference/make_sampling_fixtures.py"

# (batch, channels, frames, height, width): a 5D video latent, tiny so that fixtures stay in KB.
SHAPE = (1, 4, 2, 2, 3)
SEED = 20250601

# The scheduler_config.json of Wan-AI/Wan2.1-T2V-1.3B-Diffusers (diffusers 0.33.0.dev0 wrote it),
# also committed verbatim as tests/fixtures/sampling/wan2.1_t2v_1.3b_scheduler_config.json.
WAN_2_1_CONFIG = json.loads((OUT / "wan2.1_t2v_1.3b_scheduler_config.json").read_text())


def unipc(**overrides):
    """The Wan 2.1 scheduler config with some fields changed."""
    cfg = {k: v for k, v in WAN_2_1_CONFIG.items() if not k.startswith("_")}
    cfg.update(overrides)
    return cfg


# name -> (scheduler class, config, num_inference_steps)
CASES = {
    # The Wan 2.1 config exactly, at the pipeline default of 50 steps, and fewer.
    "unipc_wan21_50": ("UniPCMultistepScheduler", unipc(), 50),
    "unipc_wan21_20": ("UniPCMultistepScheduler", unipc(), 20),
    "unipc_wan21_7": ("UniPCMultistepScheduler", unipc(), 7),
    "unipc_wan21_2": ("UniPCMultistepScheduler", unipc(), 2),
    # flow_shift 5.0 is what Wan recommends for 720p; 1.0 is no shift.
    "unipc_shift5_50": ("UniPCMultistepScheduler", unipc(flow_shift=5.0), 50),
    "unipc_shift5_20": ("UniPCMultistepScheduler", unipc(flow_shift=5.0), 20),
    "unipc_shift1_20": ("UniPCMultistepScheduler", unipc(flow_shift=1.0), 20),
    "unipc_shift1_7": ("UniPCMultistepScheduler", unipc(flow_shift=1.0), 7),
    # Solver variants.
    "unipc_order1_20": ("UniPCMultistepScheduler", unipc(solver_order=1), 20),
    "unipc_order3_20": ("UniPCMultistepScheduler", unipc(solver_order=3), 20),
    # bh1 needs a non-zero final sigma too: with "zero", B(h) = h is infinite on the last step
    # and the reference computes inf * 0 = nan for the (absent) first-order correction term.
    "unipc_bh1_sigma_min_20": ("UniPCMultistepScheduler", unipc(solver_type="bh1", final_sigmas_type="sigma_min"), 20),
    "unipc_bh1_sigma_min_7": ("UniPCMultistepScheduler", unipc(solver_type="bh1", final_sigmas_type="sigma_min"), 7),
    "unipc_disable_corrector_20": ("UniPCMultistepScheduler", unipc(disable_corrector=[0, 1, 5]), 20),
    # lower_order_final=False needs a non-zero final sigma: with "zero" the reference's last
    # second-order step divides by an infinite h and returns inf (checked with this script).
    "unipc_no_lof_sigma_min_7": (
        "UniPCMultistepScheduler",
        unipc(lower_order_final=False, final_sigmas_type="sigma_min"),
        7,
    ),
    "unipc_sigma_min_20": ("UniPCMultistepScheduler", unipc(final_sigmas_type="sigma_min"), 20),
    # Flow Euler, with shift as Wan would use it (shift = flow_shift).
    "euler_shift3_50": ("FlowMatchEulerDiscreteScheduler", {"num_train_timesteps": 1000, "shift": 3.0}, 50),
    "euler_shift3_20": ("FlowMatchEulerDiscreteScheduler", {"num_train_timesteps": 1000, "shift": 3.0}, 20),
    "euler_shift3_7": ("FlowMatchEulerDiscreteScheduler", {"num_train_timesteps": 1000, "shift": 3.0}, 7),
    "euler_shift3_2": ("FlowMatchEulerDiscreteScheduler", {"num_train_timesteps": 1000, "shift": 3.0}, 2),
    "euler_shift5_20": ("FlowMatchEulerDiscreteScheduler", {"num_train_timesteps": 1000, "shift": 5.0}, 20),
    "euler_shift1_20": ("FlowMatchEulerDiscreteScheduler", {"num_train_timesteps": 1000, "shift": 1.0}, 20),
}

FAKE_MODEL = "model_output = 0.5 * sample + sin(float(t) / 100) * fixed_noise - 0.25 * cos(float(t) / 37) * latent0"


def save_safetensors(path, tensors, metadata):
    """Write a .safetensors file with a sorted header, so that regenerating gives the same bytes
    (safetensors.torch.save_file orders the metadata by a random hash)."""
    dtypes = {torch.float32: "F32", torch.int64: "I64"}
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def fake_model(sample, t, fixed_noise, latent0):
    """A deterministic stand-in for the DiT: depends on the sample and the timestep, so that
    the multistep history and the corrector matter."""
    t = float(t)
    return 0.5 * sample + math.sin(t / 100.0) * fixed_noise - 0.25 * math.cos(t / 37.0) * latent0


def run_case(class_name, config, steps):
    cls = {"UniPCMultistepScheduler": UniPCMultistepScheduler,
           "FlowMatchEulerDiscreteScheduler": FlowMatchEulerDiscreteScheduler}[class_name]
    scheduler = cls.from_config(config)
    scheduler.set_timesteps(steps, device="cpu")

    gen = torch.Generator().manual_seed(SEED)
    latent0 = torch.randn(SHAPE, generator=gen, dtype=torch.float32)
    fixed_noise = torch.randn(SHAPE, generator=gen, dtype=torch.float32)

    samples = [latent0]
    model_outputs = []
    sample = latent0
    for t in scheduler.timesteps:
        model_output = fake_model(sample, t, fixed_noise, latent0).to(torch.float32)
        sample = scheduler.step(model_output, t, sample, return_dict=False)[0]
        assert torch.isfinite(sample).all(), f"{class_name} {config} produced a non-finite sample"
        model_outputs.append(model_output)
        samples.append(sample)

    return {
        "timesteps": scheduler.timesteps.clone(),
        "sigmas": scheduler.sigmas.clone(),
        # samples[i] is step i's input and samples[i + 1] its output.
        "samples": torch.stack(samples).contiguous(),
        "model_outputs": torch.stack(model_outputs).contiguous(),
    }


def main():
    torch.use_deterministic_algorithms(True)
    versions = {
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "device": "cpu",
    }
    manifest = {
        "made_by": SCRIPT,
        "regenerate": f"~/.cache/kino-reference/bin/python {SCRIPT}",
        "versions": versions,
        "latent_shape": list(SHAPE),
        "seed": SEED,
        "fake_model": FAKE_MODEL,
        "tensors": {
            "timesteps": "scheduler.timesteps after set_timesteps (int64 for UniPC, float32 for Euler)",
            "sigmas": "scheduler.sigmas after set_timesteps (float32, steps + 1, last is the final sigma)",
            "samples": "(steps + 1, *latent_shape) float32: samples[i] is step i's input, samples[i + 1] its output",
            "model_outputs": "(steps, *latent_shape) float32: the model output fed to step i",
        },
        "cases": {},
    }
    for name, (class_name, config, steps) in CASES.items():
        tensors = run_case(class_name, config, steps)
        metadata = {
            "made_by": SCRIPT,
            "versions": json.dumps(versions, sort_keys=True),
            "scheduler": class_name,
            "config": json.dumps(config, sort_keys=True),
            "num_inference_steps": str(steps),
        }
        save_safetensors(OUT / f"{name}.safetensors", tensors, metadata)
        manifest["cases"][name] = {
            "scheduler": class_name,
            "config": config,
            "num_inference_steps": steps,
            "file": f"{name}.safetensors",
        }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    total = sum(p.stat().st_size for p in OUT.glob("*.safetensors"))
    print(f"wrote {len(CASES)} cases to {OUT} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
