"""PyTorch CPU peer of the kit's peer benchmark: the LLaMA forward in torch ops and the reference fake-quant formula,
on the same safetensors weights and thread count, printed as one JSON object.

Usage: /usr/bin/python3 torch-peer.py WORK.json  (written by `dotnet run --project benchmarks/LlmFp4.Kit.Benchmarks -- peers`).
Needs PyTorch and OpenBLAS (Debian: apt-get install python3-torch libopenblas0-pthread); the kit's tests never run it.
"""
import json
import struct
import sys
import time

import numpy as np
import torch

work = json.load(open(sys.argv[1]))
torch.set_num_threads(work["threads"])
config = json.load(open(work["config"]))


def read_safetensors(path):
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        data = f.read()
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F32", (name, entry["dtype"])
        begin, end = entry["data_offsets"]
        tensors[name] = torch.from_numpy(np.frombuffer(data[begin:end], dtype=np.float32).reshape(entry["shape"]).copy())
    return tensors


w = read_safetensors(work["safetensors"])
hidden, heads = config["hidden_size"], config["num_attention_heads"]
kv_heads = config.get("num_key_value_heads", heads)
head_dim = hidden // heads
eps = config.get("rms_norm_eps", 1e-6)
theta = config.get("rope_theta", 10000.0)
layers = config["num_hidden_layers"]
head = w.get("lm_head.weight", w["model.embed_tokens.weight"])


def rms_norm(x, weight):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rope(x, positions):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = positions[:, None].float() * inv_freq[None, :]
    cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)
    half = head_dim // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
    return x * cos + rotated * sin


def forward(tokens):
    """Hugging Face LlamaForCausalLM semantics, batch [B, T] -> logits [B, T, vocab]."""
    batch, length = tokens.shape
    x = w["model.embed_tokens.weight"][tokens]
    positions = torch.arange(length)
    mask = torch.full((length, length), float("-inf")).triu(1)
    for i in range(layers):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"])
        q = (h @ w[p + "self_attn.q_proj.weight"].T).view(batch, length, heads, head_dim).transpose(1, 2)
        k = (h @ w[p + "self_attn.k_proj.weight"].T).view(batch, length, kv_heads, head_dim).transpose(1, 2)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).view(batch, length, kv_heads, head_dim).transpose(1, 2)
        q, k = rope(q, positions), rope(k, positions)
        if kv_heads != heads:
            k, v = k.repeat_interleave(heads // kv_heads, 1), v.repeat_interleave(heads // kv_heads, 1)
        scores = (q @ k.transpose(-1, -2)) / head_dim ** 0.5 + mask
        attention = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, length, hidden)
        x = x + attention @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"])
        gate, up = h @ w[p + "mlp.gate_proj.weight"].T, h @ w[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(gate) * up) @ w[p + "mlp.down_proj.weight"].T
    return rms_norm(x, w["model.norm.weight"]) @ head.T


def fake_quant_e2m1(weight):
    """The LLM-FP4 quantizer (reference formula): per output row maxval = max|w|, bias b from maxval, exponent
    p = max(floor(log2|x|) + b, 1), step 2^(p - m - b), round half to even; E2M1 (e = 2, m = 1)."""
    e, m = 2, 1
    maxval = weight.abs().amax(1, keepdim=True).clamp(min=1e-30)
    bias = 2 ** e - torch.log2(maxval) + np.log2(2 - 2 ** -m) - 1
    x = torch.maximum(torch.minimum(weight, maxval), -maxval)
    exponent = torch.clamp(torch.floor(torch.log2(x.abs() + 1e-30) + bias), min=1)
    step = 2.0 ** (exponent - m - bias)
    return torch.round(x / step) * step


def best(action, repeats):
    action()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


batch = torch.tensor(work["forwardBatch"], dtype=torch.long)
with torch.no_grad():
    seconds = best(lambda: forward(batch), work["repeats"])
    tokens = torch.tensor([work["logprobTokens"]], dtype=torch.long)
    logits = forward(tokens)[0]
    logprobs = torch.log_softmax(logits.double(), -1)
    check = [logprobs[i, t].item() for i, t in enumerate(work["logprobTokens"][1:])]
    matrices = [t for name, t in w.items() if t.dim() == 2 and name != "model.embed_tokens.weight"]
    quant_seconds = best(lambda: [fake_quant_e2m1(m) for m in matrices], work["repeats"])

# Debian's python3-torch calls whatever libblas.so.3 the alternatives system points to; without OpenBLAS that is the
# reference BLAS (7x slower on a 2048 x 256 x 768 product here, 12x on the forward), so the peer names what it loaded.
with open("/proc/self/maps") as maps:
    blas = sorted({line.split()[-1] for line in maps if line.split()[-1].rsplit("/", 1)[-1].startswith("libblas.so")})

print(json.dumps({
    "peer": f"PyTorch {torch.__version__} CPU",
    "threads": torch.get_num_threads(),
    "forwardTokensPerSecond": batch.numel() / seconds,
    "fakeQuantWeightsPerSecond": sum(m.numel() for m in matrices) / quant_seconds,
    "logprobs": check,
    "blas": blas,
}))
