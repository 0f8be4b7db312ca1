"""Make the golden fixtures for kino-models' text side (crates/kino-models/src/text/).

Three kinds of fixture, all on CPU in float32:

1. Prompt embeddings of the wan-tiny pipeline (tests/fixtures/wan-tiny, its bf16 umT5 encoder
   loaded in float32 and its tiny tokenizer): for each case, the cleaned prompts
   (`pipeline_wan.prompt_clean`), the tokenizer's `input_ids` and `attention_mask` called exactly
   as `WanPipeline._get_t5_prompt_embeds` calls it, and the `prompt_embeds` that
   `WanPipeline._get_t5_prompt_embeds` itself returns (sliced to each prompt's length and padded
   with zeros to `max_sequence_length`).
2. A second, differently shaped umT5 encoder (`CONFIG_B`: 3 heads of 10 channels so that
   inner_dim != d_model, 3 layers, 12 buckets, max distance 20, eps 1e-5) saved with its
   weights under tests/fixtures/umt5/config_b/, and its `last_hidden_state` on fixed random ids
   and a padded mask.
3. Relative-position bucket tables (`UMT5Attention._relative_position_bucket`, encoder, i.e.
   bidirectional) for relative positions -300..=300 under three (num_buckets, max_distance)
   settings, one of them umT5-XXL's (32, 128).

4. A tokenizer.json with a SentencePiece `Precompiled` normalizer (as real umT5 files have):
   wan-tiny's vocabulary, normalizer `Sequence[Precompiled, Replace(" {2,}", " ")]`, the
   charsmap trained by sentencepiece from a six-rule TSV (full-width a/A/B, the fi ligature,
   circled 1, ideographic space); ids as the pipeline's tokenizer call gives them
   (precompiled_tokenizer/, precompiled_ids.safetensors).

Also `prompt_clean` on strings with HTML entities and odd whitespace (manifest.json,
"clean_cases"). ftfy is not installed in the reference env, so `basic_clean` skips
`ftfy.fix_text`, as our Rust port does.

usage (from the repository root):
    ~/.cache/kino-reference/bin/python tools/reference/make_umt5_fixtures.py

Writes tests/fixtures/umt5/ (replacing it). The tensors are the same on every CPU run; only the
order of the two metadata keys in a safetensors header may change.
"""

import base64
import json
import pathlib
import platform
import shutil
import tempfile

import diffusers
import tokenizers
import torch
import transformers
from diffusers import WanPipeline
from diffusers.pipelines.wan import pipeline_wan
from diffusers.utils import is_ftfy_available
import sentencepiece
from safetensors.torch import save_file
from transformers import AutoTokenizer, UMT5Config, UMT5EncoderModel
from transformers.models.umt5.modeling_umt5 import UMT5Attention

ROOT = pathlib.Path(__file__).resolve().parents[2]
WAN_TINY = ROOT / "tests" / "fixtures" / "wan-tiny"
OUT = ROOT / "tests" / "fixtures" / "umt5"
SCRIPT = "tools/reference/make_umt5_fixtures.py"
SEED = 20250603

# name -> (prompts, max_sequence_length)
PROMPT_CASES = {
    # The pipeline's default max_sequence_length (WanPipeline.__call__: 512).
    "short_512": (["a red ball moves left"], 512),
    # Entities (double-escaped too), tabs, newlines, a no-break space, letters outside the
    # tiny vocabulary (-> pieces of single letters or <unk>).
    "entities_32": (["  The &amp;lt;Blue&amp;gt; cube\n\tmoves   &quot;up&quot; &#38; down&nbsp;fast!  "], 32),
    # 24 words + </s> with room for 16: truncated to 15 tokens then </s>.
    "truncated_16": (
        ["a red ball moves left over the blue cube then the green ball moves right "
         "slowly up on the sky and down fast over a cube"],
        16,
    ),
    # A batch of three lengths, the empty prompt (the pipeline's default negative prompt) among them.
    "batch_24": (["a ball", "the green cube moves over the sky slowly", ""], 24),
}

CLEAN_CASES = [
    "a red ball",
    "  leading and trailing  ",
    "tabs\tand\nnewlines\r\nand\x0bvertical\x0cfeeds",
    "no\u00a0break\u2003em\u3000ideographic\u2028line\u0085nel",
    "file\x1cgroup\x1drecord\x1eunit\x1fseps",
    "&amp; &lt; &gt; &quot; &apos; &#39; &#x27; &#X41;&#65;",
    "&amp;lt;double&amp;gt; &amp;amp;amp;",
    "&amp &lt &gt &quot &nbsp &copy &reg; legacy without semicolons",
    "&hellip; &mdash; &ndash; &lsquo;&rsquo; &ldquo;&rdquo; &laquo;&raquo; &deg; &times; &eacute;",
    "&euro;&pound;&yen;&cent;&sect;&para;&middot;&bull;&trade;&iexcl;&iquest;",
    "&#128; &#150; &#0; &#xD800; &#1114112; &#x1F600; &#9731",
    "&unknownentity; & alone &; &# &#x; &#xZZ;",
    "",
    "   ",
]

CONFIG_B = dict(
    vocab_size=47,
    d_model=24,
    d_kv=10,
    d_ff=40,
    num_layers=3,
    num_decoder_layers=1,
    num_heads=3,
    relative_attention_num_buckets=12,
    relative_attention_max_distance=20,
    dropout_rate=0.0,
    layer_norm_epsilon=1e-5,
    feed_forward_proj="gated-gelu",
    pad_token_id=0,
    eos_token_id=1,
    decoder_start_token_id=0,
)
# (batch, seq): ids and a mask with padding at the end of the second row.
CONFIG_B_SEQ = (2, 19)
CONFIG_B_LENS = [19, 11]

# Normalisation rules (source code points -> target code points) for the Precompiled charsmap.
SPM_RULES = "FF21\t41\nFF22\t42\nFF41\t61\nFB01\t66 69\n2460\t31\n3000\t20\n"
PRECOMPILED_PROMPTS = ["\uff41 red ball", "\uff21\uff22 \ufb01 \u2460", "the\u3000sky", "a red ball"]
PRECOMPILED_MAX_LEN = 12

BUCKET_SETTINGS = [(32, 128), (8, 16), (12, 20)]
BUCKET_RANGE = 300


def prompt_cases(pipe, manifest):
    for name, (prompts, max_len) in PROMPT_CASES.items():
        cleaned = [pipeline_wan.prompt_clean(p) for p in prompts]
        # The tokenizer call of WanPipeline._get_t5_prompt_embeds.
        inputs = pipe.tokenizer(
            cleaned,
            padding="max_length",
            max_length=max_len,
            truncation=True,
            add_special_tokens=True,
            return_attention_mask=True,
            return_tensors="pt",
        )
        # Untruncated lengths, to record how many tokens truncation dropped.
        full_lens = [len(pipe.tokenizer(c, add_special_tokens=True).input_ids) for c in cleaned]
        embeds = pipe._get_t5_prompt_embeds(
            prompt=prompts, max_sequence_length=max_len, device="cpu", dtype=torch.float32
        )
        save_file(
            {
                "input_ids": inputs.input_ids.to(torch.int64).contiguous(),
                "attention_mask": inputs.attention_mask.to(torch.int64).contiguous(),
                "prompt_embeds": embeds.contiguous(),
            },
            OUT / f"{name}.safetensors",
            metadata={"script": SCRIPT, "reference": "WanPipeline._get_t5_prompt_embeds"},
        )
        manifest["prompt_cases"][name] = {
            "prompts": prompts,
            "cleaned": cleaned,
            "max_sequence_length": max_len,
            "untruncated_lengths": full_lens,
        }


def config_b_case(manifest):
    torch.manual_seed(SEED)
    model = UMT5EncoderModel(UMT5Config(**CONFIG_B)).eval()
    # Random init leaves small weights; widen the bias tables so buckets matter in the output.
    with torch.no_grad():
        for block in model.encoder.block:
            block.layer[0].SelfAttention.relative_attention_bias.weight.normal_(0.0, 1.0)
    model.save_pretrained(OUT / "config_b")
    b, s = CONFIG_B_SEQ
    ids = torch.randint(3, CONFIG_B["vocab_size"], (b, s), dtype=torch.int64)
    mask = torch.zeros((b, s), dtype=torch.int64)
    for row, n in enumerate(CONFIG_B_LENS):
        mask[row, :n] = 1
        ids[row, n:] = CONFIG_B["pad_token_id"]
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask).last_hidden_state
    save_file(
        {"input_ids": ids, "attention_mask": mask, "last_hidden_state": out.contiguous()},
        OUT / "config_b_outputs.safetensors",
        metadata={"script": SCRIPT, "reference": "UMT5EncoderModel.forward().last_hidden_state"},
    )
    manifest["config_b"] = {"config": CONFIG_B, "seq": CONFIG_B_SEQ, "lengths": CONFIG_B_LENS}


def _proto_fields(data):
    """(field number, value) of a protobuf message; enough to read a sentencepiece model."""

    def varint(i):
        value = shift = 0
        while True:
            byte = data[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value, i

    i = 0
    while i < len(data):
        key, i = varint(i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(i)
        elif wire == 2:
            n, i = varint(i)
            value, i = data[i : i + n], i + n
        elif wire == 5:
            value, i = data[i : i + 4], i + 4
        else:
            value, i = data[i : i + 8], i + 8
        yield field, value


def precompiled_charsmap():
    """Trains a tiny sentencepiece model with SPM_RULES; returns its precompiled charsmap."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        (tmp / "rules.tsv").write_text(SPM_RULES)
        (tmp / "corpus.txt").write_text("\n".join(["a red ball moves left over the sky"] * 20 + ["\uff41\uff21\uff22\ufb01\u2460 bcdghijknpqtuvwxyz"] * 5))
        sentencepiece.SentencePieceTrainer.train(
            input=str(tmp / "corpus.txt"), model_prefix=str(tmp / "m"), vocab_size=60, model_type="unigram", hard_vocab_limit=False,
            pad_id=0, eos_id=1, unk_id=2, bos_id=-1, num_threads=1, character_coverage=1.0,
            normalization_rule_tsv=str(tmp / "rules.tsv"), minloglevel=2,
        )
        model = (tmp / "m.model").read_bytes()
    normalizer_spec = next(v for f, v in _proto_fields(model) if f == 3)
    return next(v for f, v in _proto_fields(normalizer_spec) if f == 2)


def precompiled_case(manifest):
    out = OUT / "precompiled_tokenizer"
    out.mkdir()
    tok = json.loads((WAN_TINY / "tokenizer" / "tokenizer.json").read_text())
    tok["normalizer"] = {
        "type": "Sequence",
        "normalizers": [
            {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(precompiled_charsmap()).decode()},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
        ],
    }
    (out / "tokenizer.json").write_text(json.dumps(tok, indent=2, ensure_ascii=False) + "\n")
    shutil.copy(WAN_TINY / "tokenizer" / "tokenizer_config.json", out / "tokenizer_config.json")
    tokenizer = AutoTokenizer.from_pretrained(out)
    cleaned = [pipeline_wan.prompt_clean(p) for p in PRECOMPILED_PROMPTS]
    inputs = tokenizer(
        cleaned, padding="max_length", max_length=PRECOMPILED_MAX_LEN, truncation=True,
        add_special_tokens=True, return_attention_mask=True, return_tensors="pt",
    )
    save_file(
        {"input_ids": inputs.input_ids.to(torch.int64), "attention_mask": inputs.attention_mask.to(torch.int64)},
        OUT / "precompiled_ids.safetensors",
        metadata={"script": SCRIPT, "reference": "AutoTokenizer (T5Tokenizer) as in WanPipeline._get_t5_prompt_embeds"},
    )
    manifest["precompiled"] = {
        "tokenizer_class": type(tokenizer).__name__,
        "prompts": PRECOMPILED_PROMPTS,
        "max_sequence_length": PRECOMPILED_MAX_LEN,
        "tokens": [tokenizer.convert_ids_to_tokens(row) for row in inputs.input_ids.tolist()],
    }


def bucket_tables(manifest):
    tensors = {}
    rel = torch.arange(-BUCKET_RANGE, BUCKET_RANGE + 1, dtype=torch.long)
    for buckets, distance in BUCKET_SETTINGS:
        cfg = UMT5Config(
            relative_attention_num_buckets=buckets,
            relative_attention_max_distance=distance,
            is_decoder=False,
        )
        attn = UMT5Attention(cfg, has_relative_attention_bias=True)
        tensors[f"buckets_{buckets}_{distance}"] = attn._relative_position_bucket(rel).to(torch.int64)
    tensors["relative_position"] = rel
    save_file(
        tensors,
        OUT / "buckets.safetensors",
        metadata={"script": SCRIPT, "reference": "UMT5Attention._relative_position_bucket"},
    )
    manifest["buckets"] = {"settings": BUCKET_SETTINGS, "range": BUCKET_RANGE}


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    manifest = {
        "script": SCRIPT,
        "seed": SEED,
        "versions": {
            "diffusers": diffusers.__version__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "tokenizers": tokenizers.__version__,
            "python": platform.python_version(),
        },
        "ftfy_available": is_ftfy_available(),
        "pipeline": "tests/fixtures/wan-tiny (text encoder loaded in float32)",
        "prompt_cases": {},
        "clean_cases": [[s, pipeline_wan.prompt_clean(s)] for s in CLEAN_CASES],
    }
    pipe = WanPipeline.from_pretrained(WAN_TINY, torch_dtype=torch.float32)
    pipe.text_encoder.eval()
    with torch.no_grad():
        prompt_cases(pipe, manifest)
    config_b_case(manifest)
    bucket_tables(manifest)
    precompiled_case(manifest)
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=True) + "\n")
    files = [p for p in OUT.rglob("*") if p.is_file()]
    for p in files:
        p.chmod(0o644)  # safetensors writes 0600
    size = sum(p.stat().st_size for p in files)
    print(f"wrote {OUT} ({size} bytes)")


if __name__ == "__main__":
    main()
