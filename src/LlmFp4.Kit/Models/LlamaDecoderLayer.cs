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

    public int Index { get; }
    public NamedTensor InputNorm { get; }
    public LinearLayer QProj { get; }
    public LinearLayer KProj { get; }
    public LinearLayer VProj { get; }
    public LinearLayer OProj { get; }
    public NamedTensor PostAttentionNorm { get; }
    public LinearLayer GateProj { get; }
    public LinearLayer UpProj { get; }
    public LinearLayer DownProj { get; }

    public QuantizationPoint QueryMatMul { get; }
    public QuantizationPoint KeyMatMul { get; }
    public QuantizationPoint ProbsMatMul { get; }
    public QuantizationPoint ValueMatMul { get; }

    /// <summary>q, k, v, o, gate, up, down, in execution order.</summary>
    public IReadOnlyList<LinearLayer> Linears => [QProj, KProj, VProj, OProj, GateProj, UpProj, DownProj];

    public IReadOnlyList<QuantizationPoint> AttentionMatMulPoints => [QueryMatMul, KeyMatMul, ProbsMatMul, ValueMatMul];
}
