"""How sharp and how local a kino-mini model's self-attention is, measured with the reference.

Loads a model folder (`models/kino-mini` or a run's `model/`) with diffusers'
`WanTransformer3DModel` and transformers' `UMT5EncoderModel`, noises one world clip to several
noise levels, runs the transformer once per level, and prints for every block and head of the
self-attention:

  H      the mean entropy of a query's attention, in nats (uniform over the tokens: log L);
  near   the mean attention mass on keys within one token in space (any frame patch);
  sameT  the mean mass on keys of the query's own frame patch;
  max    the mean of a query's largest weight (1: it looks at one token only).

A model that coordinates the tokens of one object needs heads that are both sharp and local;
diffuse heads (H near log L, max near 1/L) average the whole clip. Diagnostic only: it writes
nothing and no test reads it.

usage: python tools/reference/probe_attention.py MODEL_DIR CLIP_DIR [PROMPT]
  CLIP_DIR: the clip's PNG frames, e.g. from
  `kino world render "a blue ball moving to the left on green grass" --width 32 --height 32
   --seconds 2 --fps 8 -o /tmp/clip/`
"""

import glob
import json
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

SIGMAS = [0.95, 0.85, 0.6, 0.3]
_records = []
_sdpa = F.scaled_dot_product_attention


def _recording_sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                    scale=None, **kwargs):
    """Records the softmax of self-attention calls (same query and key length)."""
    if query.shape[-2] == key.shape[-2]:
        s = scale or 1.0 / math.sqrt(query.shape[-1])
        _records.append(torch.softmax((query @ key.transpose(-1, -2)) * s, -1).detach())
    return _sdpa(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p,
                 is_causal=is_causal, scale=scale, **kwargs)


F.scaled_dot_product_attention = _recording_sdpa

from diffusers import WanTransformer3DModel  # noqa: E402  (after the patch above)
from transformers import AutoTokenizer, UMT5EncoderModel  # noqa: E402


def main():
    model_dir, clip_dir = sys.argv[1], sys.argv[2]
    prompt = sys.argv[3] if len(sys.argv) > 3 else "a blue ball moving to the left on green grass"
    defaults = json.load(open(f"{model_dir}/model_index.json"))["_kino_defaults"]
    transformer = WanTransformer3DModel.from_pretrained(f"{model_dir}/transformer").eval()
    encoder = UMT5EncoderModel.from_pretrained(f"{model_dir}/text_encoder").eval()
    tokenizer = AutoTokenizer.from_pretrained(f"{model_dir}/tokenizer")
    tokens = tokenizer([prompt.lower()], padding="max_length", truncation=True,
                       max_length=defaults["max_sequence_length"], return_tensors="pt")
    with torch.no_grad():
        text = encoder(tokens.input_ids, attention_mask=tokens.attention_mask).last_hidden_state
        text = text * tokens.attention_mask[..., None]

    frames = sorted(glob.glob(f"{clip_dir}/frame_*.png"))
    clip = np.stack([np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 127.5 - 1
                     for f in frames])
    x0 = torch.from_numpy(clip).permute(3, 0, 1, 2)[None]  # (1, C, T, H, W)
    _, c, t, h, w = x0.shape
    pt, ph, pw = transformer.config.patch_size
    grid = (t // pt, h // ph, w // pw)
    pos = np.array([(a, b, d) for a in range(grid[0]) for b in range(grid[1])
                    for d in range(grid[2])])
    spatial = np.maximum(abs(pos[:, None, 1] - pos[None, :, 1]),
                         abs(pos[:, None, 2] - pos[None, :, 2]))
    near = torch.from_numpy((spatial <= 1).astype(np.float32))
    same_t = torch.from_numpy((pos[:, None, 0] == pos[None, :, 0]).astype(np.float32))
    tokens_n = len(pos)
    extra = transformer.config.in_channels - c  # first-frame mask and frame (zeros: text only)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    print(f"{tokens_n} tokens: uniform entropy {math.log(tokens_n):.2f}; chance mass "
          f"near {near.mean():.3f}, same frame patch {same_t.mean():.3f}")
    for sigma in SIGMAS:
        _records.clear()
        noisy = (1 - sigma) * x0 + sigma * noise
        inputs = torch.cat([noisy, torch.zeros(1, extra, t, h, w)], 1)
        with torch.no_grad():
            transformer(inputs, torch.tensor([sigma * 1000.0]), text, return_dict=False)
        print(f"sigma {sigma}")
        for block, probs in enumerate(_records):
            p = probs[0]  # (heads, L, L)
            entropy = -(p * (p + 1e-12).log()).sum(-1).mean(-1)
            columns = {
                "H": entropy,
                "near": (p * near).sum(-1).mean(-1),
                "sameT": (p * same_t).sum(-1).mean(-1),
                "max": p.max(-1).values.mean(-1),
            }
            print(f"  block {block}: " + "  ".join(
                f"{name} " + "/".join(f"{v:.2f}" for v in values)
                for name, values in columns.items()))


if __name__ == "__main__":
    main()
