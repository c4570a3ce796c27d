"""Golden RoPE frequencies and logits for config.json's rope_scaling and the other LlamaConfig fields the kit applies.

Takes the tiny LLaMA of make_llama_golden.py (llama_tiny/: config.json and model.safetensors, read here by hand since
torch 1.13 has no safetensors package) and, for each variant below, merges the variant's fields into its config and
computes in plain torch, float32:
  - the inverse frequencies and attention factor, written here after transformers' modeling_rope_utils.py
    (ROPE_INIT_FUNCTIONS: default, linear, dynamic, yarn, llama3; cos and sin are multiplied by the attention factor
    as LlamaRotaryEmbedding does);
  - the logits of one 24-token sequence with make_llama_golden.py's LlamaForCausalLM forward, given those frequencies
    (with tie_word_embeddings the head is the embedding matrix).

Writes llama_rope_scaling.json: [{"name", "config" (the fields merged into llama_tiny/config.json), "inv_freq",
"attention_factor", "ids", "logits_offset"}] and llama_rope_scaling.bin: the logits of every variant, float32
little-endian, [24 x 97] each, at logits_offset floats.

Run: /usr/bin/python3 make_rope_scaling_golden.py   (Debian python3-torch 1.13, CPU; deterministic, seed 1)
"""
import json
import math
import os
import struct

import torch

from make_llama_golden import forward

torch.manual_seed(1)
torch.set_num_threads(1)

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "llama_tiny")

VARIANTS = [
    ("linear", {"rope_scaling": {"rope_type": "linear", "factor": 2.0}}),
    ("dynamic (no change up to max_position_embeddings)", {"rope_scaling": {"rope_type": "dynamic", "factor": 3.0}}),
    ("llama3", {"rope_scaling": {"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                 "original_max_position_embeddings": 16}}),
    ("yarn with original_max_position_embeddings", {"rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16}}),
    ("yarn, legacy 'type', attention_factor, betas, no truncation",
     {"rope_scaling": {"type": "yarn", "factor": 2.0, "attention_factor": 1.3, "beta_fast": 16.0, "beta_slow": 2.0, "truncate": False}}),
    ("yarn with mscale", {"rope_scaling": {"rope_type": "yarn", "factor": 8.0, "mscale": 1.0, "mscale_all_dim": 0.5}}),
    ("rope_parameters with rope_theta", {"rope_parameters": {"rope_type": "linear", "factor": 1.5, "rope_theta": 5000.0}}),
    ("tied head, explicit head_dim and biases off, eos list",
     {"tie_word_embeddings": True, "head_dim": 16, "attention_bias": False, "mlp_bias": False, "eos_token_id": [2, 3],
      "rope_scaling": None, "pretraining_tp": 1, "initializer_range": 0.02, "use_cache": True}),
]


def read_safetensors(path):
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    weights = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        weights[name] = torch.frombuffer(bytearray(data[begin:end]), dtype=dtypes[entry["dtype"]]).reshape(entry["shape"]).float()
    return weights


# ---- transformers' modeling_rope_utils.py, for one config dict ----

def rope_params(c):
    p = c.get("rope_parameters") or c.get("rope_scaling") or {}
    return p, p.get("rope_type", p.get("type", "default")), p.get("rope_theta") or c["rope_theta"]


def default_inv_freq(base, dim):
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))


def inverse_frequencies(c):
    p, rope_type, base = rope_params(c)
    dim = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
    max_pos = c["max_position_embeddings"]
    if rope_type == "default":
        return default_inv_freq(base, dim), 1.0
    if rope_type == "linear":
        inv_freq = default_inv_freq(base, dim)
        inv_freq /= p["factor"]
        return inv_freq, 1.0
    if rope_type == "dynamic":
        # seq_len defaults to max_position_embeddings (and is never above it here): the base is unchanged.
        seq_len, factor = max_pos, p["factor"]
        base = base * ((factor * seq_len / max_pos) - (factor - 1)) ** (dim / (dim - 2))
        return default_inv_freq(base, dim), 1.0
    if rope_type == "llama3":
        inv_freq = default_inv_freq(base, dim)
        factor, low, high, old = p["factor"], p["low_freq_factor"], p["high_freq_factor"], p["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / low, old / high
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = torch.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * inv_freq_llama / factor + smooth * inv_freq_llama
        is_medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        return torch.where(is_medium, smoothed, inv_freq_llama), 1.0
    if rope_type == "yarn":
        factor = p["factor"]
        attention_factor, mscale, mscale_all_dim = p.get("attention_factor"), p.get("mscale"), p.get("mscale_all_dim")
        if "original_max_position_embeddings" in p:
            original = p["original_max_position_embeddings"]
            factor = max_pos / original
        else:
            original = max_pos

        def get_mscale(scale, m=1):
            return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

        if attention_factor is None:
            if mscale and mscale_all_dim:
                attention_factor = float(get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim))
            else:
                attention_factor = get_mscale(factor)
        beta_fast, beta_slow = p.get("beta_fast") or 32, p.get("beta_slow") or 1

        def correction_dim(rotations):
            return (dim * math.log(original / (rotations * 2 * math.pi))) / (2 * math.log(base))

        low, high = correction_dim(beta_fast), correction_dim(beta_slow)
        if p.get("truncate", True):
            low, high = math.floor(low), math.ceil(high)
        low, high = max(low, 0), min(high, dim - 1)
        if low == high:
            high += 0.001
        ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)
        pos_freqs = base ** (torch.arange(0, dim, 2).float() / dim)
        extrapolation, interpolation = 1.0 / pos_freqs, 1.0 / (factor * pos_freqs)
        extrapolation_factor = 1 - ramp
        return interpolation * (1 - extrapolation_factor) + extrapolation * extrapolation_factor, attention_factor
    raise ValueError(rope_type)


def main():
    with open(os.path.join(TINY, "config.json")) as f:
        base_config = json.load(f)
    weights = read_safetensors(os.path.join(TINY, "model.safetensors"))
    ids = torch.randint(0, base_config["vocab_size"], (24,)).tolist()
    entries, offset = [], 0
    with open(os.path.join(HERE, "llama_rope_scaling.bin"), "wb") as out:
        for name, fields in VARIANTS:
            c = {**base_config, **fields}
            inv_freq, attention_factor = inverse_frequencies(c)
            with torch.no_grad():
                logits = forward(weights, c, ids, inv_freq, attention_factor)
            out.write(logits.contiguous().numpy().astype("<f4").tobytes())
            entries.append({"name": name, "config": fields, "inv_freq": [float(v) for v in inv_freq],
                            "attention_factor": attention_factor, "ids": ids, "logits_offset": offset})
            offset += logits.numel()
            print(f"{name}: inv_freq {[round(float(v), 6) for v in inv_freq]}, attention factor {attention_factor:.4f}")
    with open(os.path.join(HERE, "llama_rope_scaling.json"), "w") as f:
        json.dump(entries, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
