"""Golden logits for the kit's LLaMA runtime from an independent PyTorch implementation.

Builds a tiny random LLaMA (grouped-query attention: 4 query heads sharing 2 key/value heads, untied lm_head,
2 layers, hidden 64, vocabulary 97, rope_theta 1000 so a hard-coded 10000 would show), written here in plain
torch after Hugging Face's LlamaForCausalLM (modeling_llama.py): RMSNorm in float32 with eps from the config,
rotate_half RoPE with inv_freq = 1 / theta^(arange(0, d, 2) / d), causal softmax attention in float32 with
repeat_kv, SwiGLU MLP down(silu(gate(x)) * up(x)), final norm, lm_head.

Writes into llama_tiny/:
  config.json        Hugging Face config
  model.safetensors  written by this script (torch 1.13 has no safetensors package): 8-byte little-endian
                     header length, JSON header, raw little-endian data. Dtypes are mixed on purpose so the
                     loader's three paths are exercised: embedding and lm_head F16, linear weights BF16,
                     norm weights F32. The model computes in float32 from exactly these rounded values.
  golden_logits.bin  int32 S (sequences); then per sequence: int32 length L, L int32 token ids,
                     L x 97 float32 logits (row-major), all little-endian.

Run: /usr/bin/python3 make_llama_golden.py   (Debian python3-torch 1.13, CPU; deterministic, seed 0)
"""
import json
import math
import os
import struct

import torch

torch.manual_seed(0)
torch.set_num_threads(1)

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "vocab_size": 97,
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 64,
    "rms_norm_eps": 1e-5,
    "rope_theta": 1000.0,
    "tie_word_embeddings": False,
    "hidden_act": "silu",
    "torch_dtype": "float32",
}
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "llama_tiny")


def random_weights(c):
    """HF names and shapes; std large enough that every block changes the logits visibly."""
    hidden, inner, vocab = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    head_dim = hidden // c["num_attention_heads"]
    kv = c["num_key_value_heads"] * head_dim
    w = {"model.embed_tokens.weight": (torch.randn(vocab, hidden), torch.float16)}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = (0.5 + torch.rand(hidden), torch.float32)
        w[p + "self_attn.q_proj.weight"] = (torch.randn(hidden, hidden) * 0.25, torch.bfloat16)
        w[p + "self_attn.k_proj.weight"] = (torch.randn(kv, hidden) * 0.25, torch.bfloat16)
        w[p + "self_attn.v_proj.weight"] = (torch.randn(kv, hidden) * 0.2, torch.bfloat16)
        w[p + "self_attn.o_proj.weight"] = (torch.randn(hidden, hidden) * 0.15, torch.bfloat16)
        w[p + "post_attention_layernorm.weight"] = (0.5 + torch.rand(hidden), torch.float32)
        w[p + "mlp.gate_proj.weight"] = (torch.randn(inner, hidden) * 0.2, torch.bfloat16)
        w[p + "mlp.up_proj.weight"] = (torch.randn(inner, hidden) * 0.2, torch.bfloat16)
        w[p + "mlp.down_proj.weight"] = (torch.randn(hidden, inner) * 0.15, torch.bfloat16)
    w["model.norm.weight"] = (0.5 + torch.rand(hidden), torch.float32)
    w["lm_head.weight"] = (torch.randn(vocab, hidden) * 0.2, torch.float16)
    # Round to the stored dtype; the forward uses these values in float32.
    return {name: (t.to(dtype), dtype) for name, (t, dtype) in w.items()}


def write_safetensors(path, stored):
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, (t, dtype) in stored.items():
        data = t.contiguous().view(torch.int16 if dtype != torch.float32 else torch.int32).numpy().astype("<i2" if dtype != torch.float32 else "<i4").tobytes()
        header[name] = {"dtype": names[dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def rms_norm(x, weight, eps):
    variance = x.pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(variance + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def forward(w, c, ids, inv_freq=None, attention_factor=1.0):
    """LlamaForCausalLM's logits; RoPE from inv_freq (default: 1 / theta^(2i/d)), cos and sin times attention_factor."""
    hidden, heads, kv_heads = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
    head_dim, eps, n = hidden // heads, c["rms_norm_eps"], len(ids)
    if inv_freq is None:
        inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, head_dim, 2).float() / head_dim))
    freqs = torch.outer(torch.arange(n).float(), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    if attention_factor != 1.0:
        cos, sin = cos * attention_factor, sin * attention_factor
    mask = torch.full((n, n), float("-inf")).triu(1)

    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = (h @ w[p + "self_attn.q_proj.weight"].T).view(n, heads, head_dim).transpose(0, 1)
        k = (h @ w[p + "self_attn.k_proj.weight"].T).view(n, kv_heads, head_dim).transpose(0, 1)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).view(n, kv_heads, head_dim).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(heads // kv_heads, dim=0)  # repeat_kv: query head j uses KV head j // group
        v = v.repeat_interleave(heads // kv_heads, dim=0)
        scores = q @ k.transpose(1, 2) / math.sqrt(head_dim) + mask
        attn = torch.softmax(scores, dim=-1) @ v
        x = x + attn.transpose(0, 1).reshape(n, hidden) @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = torch.nn.functional.silu(h @ w[p + "mlp.gate_proj.weight"].T)
        x = x + (gate * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    head = w["model.embed_tokens.weight"] if c.get("tie_word_embeddings") else w["lm_head.weight"]
    return rms_norm(x, w["model.norm.weight"], eps) @ head.T


def main():
    os.makedirs(OUT, exist_ok=True)
    stored = random_weights(CONFIG)
    write_safetensors(os.path.join(OUT, "model.safetensors"), stored)
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
        f.write("\n")

    weights = {name: t.float() for name, (t, _) in stored.items()}
    sequences = [torch.randint(0, CONFIG["vocab_size"], (n,)).tolist() for n in (11, 40)]
    with open(os.path.join(OUT, "golden_logits.bin"), "wb") as f:
        f.write(struct.pack("<i", len(sequences)))
        for ids in sequences:
            with torch.no_grad():
                logits = forward(weights, CONFIG, ids)
            f.write(struct.pack("<i", len(ids)))
            f.write(struct.pack(f"<{len(ids)}i", *ids))
            f.write(logits.contiguous().numpy().astype("<f4").tobytes())
            print(f"sequence of {len(ids)}: logits std {logits.std().item():.3f}, max |logit| {logits.abs().max().item():.3f}")


if __name__ == "__main__":
    main()
