using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Models;

/// <summary>
/// One LLaMA decoder block: <c>x += o_proj(attn(rope(q_proj(n)), rope(k_proj(n)), v_proj(n)))</c> with
/// <c>n = input_layernorm(x)</c>, then <c>x += down_proj(silu(gate_proj(m)) · up_proj(m))</c> with
/// <c>m = post_attention_layernorm(x)</c>.
/// </summary>
/// <remarks>
/// Attention-matmul quantization points, all off by default, named <c>model.layers.{i}.self_attn.{operand}_matmul</c>:
/// <list type="bullet">
/// <item><c>q_matmul</c>: the query operand of QKᵀ (after RoPE), [batch tokens × heads·headDim].</item>
/// <item><c>k_matmul</c>: the key operand of QKᵀ (after RoPE), [batch tokens × kvHeads·headDim].</item>
/// <item><c>probs_matmul</c>: the softmax output, the left operand of PV, once per (sequence, head) as a
/// [tokens × tokens] block whose masked (upper) entries are zero and ignored afterwards (when decoding with a
/// KV cache, as the [new tokens × visible positions] block). These calls
/// run concurrently from several threads, so the quantizer's Apply must be thread-safe.</item>
/// <item><c>v_matmul</c>: the value operand of PV, [batch tokens × kvHeads·headDim].</item>
/// </list>
/// </remarks>
public sealed class LlamaDecoderLayer
{
    /// <summary>Layer <paramref name="index"/> of a model shaped by <paramref name="config"/>.</summary>
    /// <param name="index">Position of the layer in the model (0-based).</param>
    /// <param name="config">Model shape.</param>
    /// <param name="dense">Reads a norm weight by name and shape.</param>
    /// <param name="linear">Makes a linear layer from its module name and in / out features.</param>
    internal LlamaDecoderLayer(int index, LlamaConfig config, Func<string, int[], float[]> dense, Func<string, int, int, LinearLayer> linear)
    {
        Index = index;
        string prefix = $"model.layers.{index}";
        int hidden = config.HiddenSize, kv = config.KeyValueHeads * config.HeadDim, inner = config.IntermediateSize;
        LinearLayer Linear(string module, int inFeatures, int outFeatures) => linear($"{prefix}.{module}", inFeatures, outFeatures);
        NamedTensor Norm(string module) => new($"{prefix}.{module}.weight", [hidden], dense($"{prefix}.{module}.weight", [hidden]));

        InputNorm = Norm("input_layernorm");
        QProj = Linear("self_attn.q_proj", hidden, hidden);
        KProj = Linear("self_attn.k_proj", hidden, kv);
        VProj = Linear("self_attn.v_proj", hidden, kv);
        OProj = Linear("self_attn.o_proj", hidden, hidden);
        PostAttentionNorm = Norm("post_attention_layernorm");
        GateProj = Linear("mlp.gate_proj", hidden, inner);
        UpProj = Linear("mlp.up_proj", hidden, inner);
        DownProj = Linear("mlp.down_proj", inner, hidden);
        QueryMatMul = new($"{prefix}.self_attn.q_matmul");
        KeyMatMul = new($"{prefix}.self_attn.k_matmul");
        ProbsMatMul = new($"{prefix}.self_attn.probs_matmul");
        ValueMatMul = new($"{prefix}.self_attn.v_matmul");
    }

    /// <summary>Position of the layer in the model, 0-based (the i of <c>model.layers.{i}</c>).</summary>
    public int Index { get; }
    /// <summary><c>input_layernorm.weight</c>, the RMSNorm gain before attention, [hidden].</summary>
    public NamedTensor InputNorm { get; }
    /// <summary><c>self_attn.q_proj</c>, [hidden → heads·headDim].</summary>
    public LinearLayer QProj { get; }
    /// <summary><c>self_attn.k_proj</c>, [hidden → kvHeads·headDim].</summary>
    public LinearLayer KProj { get; }
    /// <summary><c>self_attn.v_proj</c>, [hidden → kvHeads·headDim].</summary>
    public LinearLayer VProj { get; }
    /// <summary><c>self_attn.o_proj</c>, [heads·headDim → hidden].</summary>
    public LinearLayer OProj { get; }
    /// <summary><c>post_attention_layernorm.weight</c>, the RMSNorm gain before the MLP, [hidden].</summary>
    public NamedTensor PostAttentionNorm { get; }
    /// <summary><c>mlp.gate_proj</c>, [hidden → intermediate]; its output goes through SiLU.</summary>
    public LinearLayer GateProj { get; }
    /// <summary><c>mlp.up_proj</c>, [hidden → intermediate].</summary>
    public LinearLayer UpProj { get; }
    /// <summary><c>mlp.down_proj</c>, [intermediate → hidden].</summary>
    public LinearLayer DownProj { get; }

    /// <summary>The query operand of QKᵀ, <c>self_attn.q_matmul</c> (see the class remarks).</summary>
    public QuantizationPoint QueryMatMul { get; }
    /// <summary>The key operand of QKᵀ, <c>self_attn.k_matmul</c>.</summary>
    public QuantizationPoint KeyMatMul { get; }
    /// <summary>The softmax probabilities, left operand of PV, <c>self_attn.probs_matmul</c>; its quantizer must be thread-safe.</summary>
    public QuantizationPoint ProbsMatMul { get; }
    /// <summary>The value operand of PV, <c>self_attn.v_matmul</c>.</summary>
    public QuantizationPoint ValueMatMul { get; }

    /// <summary>q, k, v, o, gate, up, down, in execution order.</summary>
    public IReadOnlyList<LinearLayer> Linears => [QProj, KProj, VProj, OProj, GateProj, UpProj, DownProj];

    /// <summary>The four attention-matmul points: q, k, probs, v.</summary>
    public IReadOnlyList<QuantizationPoint> AttentionMatMulPoints => [QueryMatMul, KeyMatMul, ProbsMatMul, ValueMatMul];
}
