"""Make tests/fixtures/wan-tiny: a tiny random-weight Wan 2.1 T2V pipeline in real diffusers layout.

The directory is what `WanPipeline.save_pretrained` writes, so the Rust loader in
crates/kino-models is tested against the same layout users download
(Wan-AI/Wan2.1-T2V-1.3B-Diffusers), only with tiny dimensions:

- transformer/: WanTransformer3DModel, f32, saved SHARDED (`*.safetensors.index.json` + shards)
- vae/:         AutoencoderKLWan, f32, one `diffusion_pytorch_model.safetensors`
- text_encoder/: UMT5EncoderModel, saved in bf16 (exercises dtype conversion)
- tokenizer/:   a tiny T5-style Unigram tokenizer.json built here with `tokenizers`
- scheduler/:   UniPCMultistepScheduler with Wan 2.1's flow-matching settings

Only layout and weights: no forward-pass outputs (parity fixtures are a separate job).

usage (from the repository root):
    ~/.cache/kino-reference/bin/python tools/reference/make_tiny_wan.py

Writes tests/fixtures/wan-tiny/ (replacing it) and tests/fixtures/wan-tiny/FIXTURE.md.
"""

import json
import pathlib
import platform
import shutil

import diffusers
import tokenizers
import torch
import transformers
from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import Unigram
from transformers import T5TokenizerFast, UMT5Config, UMT5EncoderModel

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "wan-tiny"
SCRIPT = "tools/reference/make_tiny_wan.py"
SEED = 20250602

# Small enough that the transformer (about 130 KB in f32) is cut into several shards.
TRANSFORMER_SHARD_SIZE = "60KB"

# z_dim of the VAE is the transformer's in/out channel count, as in the real model (16 there).
Z_DIM = 4

TRANSFORMER = dict(
    patch_size=(1, 2, 2),
    num_attention_heads=2,
    attention_head_dim=16,
    in_channels=Z_DIM,
    out_channels=Z_DIM,
    text_dim=32,
    freq_dim=16,
    ffn_dim=32,
    num_layers=2,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    eps=1e-6,
    image_dim=None,
    added_kv_proj_dim=None,
    rope_max_seq_len=1024,
)

VAE = dict(
    base_dim=4,
    z_dim=Z_DIM,
    dim_mult=[1, 2, 2, 2],
    num_res_blocks=1,
    attn_scales=[],
    temperal_downsample=[False, True, True],
    dropout=0.0,
    latents_mean=[-0.75, -0.5, 0.25, 1.5],
    latents_std=[2.75, 1.5, 2.25, 1.25],
)

# Wan's flow-matching UniPC settings (scheduler/config.json of Wan-AI/Wan2.1-T2V-1.3B-Diffusers).
SCHEDULER = dict(
    num_train_timesteps=1000,
    prediction_type="flow_prediction",
    use_flow_sigmas=True,
    flow_shift=3.0,
    solver_order=2,
    solver_type="bh2",
    predict_x0=True,
    lower_order_final=True,
    final_sigmas_type="zero",
    timestep_spacing="linspace",
)

# A T5-style Unigram vocabulary: pad 0, eos 1, unk 2 as in umT5, then word pieces.
WORDS = "a the red blue green ball cube moves left right up down on over slowly fast sky".split()
LETTERS = list("abcdefghijklmnopqrstuvwxyz")


def make_tokenizer():
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    vocab += [("\u2581" + w, -3.0) for w in WORDS]
    vocab += [(c, -5.0) for c in LETTERS]
    tok = Tokenizer(Unigram(vocab, unk_id=2, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [normalizers.Replace(tokenizers.Regex(" {2,}"), " "), normalizers.Lowercase()]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    fast = T5TokenizerFast(
        tokenizer_object=tok, eos_token="</s>", unk_token="<unk>", pad_token="<pad>", extra_ids=0
    )
    return fast, len(vocab)


def text_encoder_config(vocab_size):
    return UMT5Config(
        vocab_size=vocab_size,
        d_model=32,
        d_kv=16,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=2,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=16,
        dropout_rate=0.0,
        layer_norm_epsilon=1e-6,
        feed_forward_proj="gated-gelu",
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )


def main():
    torch.manual_seed(SEED)
    tokenizer, vocab_size = make_tokenizer()
    text_encoder = UMT5EncoderModel(text_encoder_config(vocab_size)).eval().to(torch.bfloat16)
    transformer = WanTransformer3DModel(**TRANSFORMER).eval()
    vae = AutoencoderKLWan(**VAE).eval()
    scheduler = UniPCMultistepScheduler(**SCHEDULER)
    pipe = WanPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        scheduler=scheduler,
        transformer=transformer,
    )

    if OUT.exists():
        shutil.rmtree(OUT)
    pipe.save_pretrained(OUT)
    # One shard size for the whole pipeline would shard the VAE too; re-save the transformer alone.
    shutil.rmtree(OUT / "transformer")
    transformer.save_pretrained(OUT / "transformer", max_shard_size=TRANSFORMER_SHARD_SIZE)

    shards = sorted(p.name for p in (OUT / "transformer").glob("*.safetensors"))
    assert (OUT / "transformer" / "diffusion_pytorch_model.safetensors.index.json").exists(), shards
    assert len(shards) >= 2, shards
    assert (OUT / "vae" / "diffusion_pytorch_model.safetensors").exists()

    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    files = sorted(str(p.relative_to(OUT)) for p in OUT.rglob("*") if p.is_file())
    write_fixture_md(size, files, vocab_size)
    print(f"wrote {OUT} ({size} bytes): {files}")


def write_fixture_md(size, files, vocab_size):
    listing = "\n".join(f"- `{f}`" for f in files)
    text = f"""# wan-tiny: a tiny random-weight Wan 2.1 T2V pipeline in diffusers layout

Made by `{SCRIPT}` (run from the repository root):

    ~/.cache/kino-reference/bin/python {SCRIPT}

- seed: `torch.manual_seed({SEED})` before building the modules
- versions: diffusers {diffusers.__version__}, transformers {transformers.__version__},
  torch {torch.__version__}, tokenizers {tokenizers.__version__}, Python {platform.python_version()}
- written by `WanPipeline.save_pretrained`; the transformer re-saved with
  `max_shard_size="{TRANSFORMER_SHARD_SIZE}"` so that it is sharded
  (`diffusion_pytorch_model.safetensors.index.json`); the VAE is one file; the text encoder is
  stored in bf16, the transformer and VAE in f32
- tokenizer: a {vocab_size}-piece T5-style Unigram `tokenizer.json` built in the script
  (pad 0, eos 1, unk 2), not a real umT5 vocabulary
- total size: {size} bytes

Only the layout and random weights: no forward-pass outputs. The configs (see the script's
`TRANSFORMER`, `VAE`, `text_encoder_config`, `SCHEDULER`) are mirrored in
crates/kino-models/tests/load_fixture.rs.

Files:

{listing}
"""
    (OUT / "FIXTURE.md").write_text(text)


if __name__ == "__main__":
    main()
