using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Models.Bert;

/// <summary>
/// One post-LayerNorm BERT block (Hugging Face <c>BertLayer</c>):
/// <c>h₁ = LayerNorm(h + attention.output.dense(attn(query(h), key(h), value(h))))</c>, then
/// <c>h₂ = LayerNorm(h₁ + output.dense(gelu(intermediate.dense(h₁))))</c>. Every linear layer has a bias.
/// </summary>
/// <remarks>
/// Attention-matmul quantization points, all off by default, named <c>encoder.layer.{i}.attention.self.{operand}_matmul</c>
/// as LLaMA's are: <c>q_matmul</c> and <c>k_matmul</c> (the operands of QKᵀ, [batch tokens × hidden]),
/// <c>probs_matmul</c> (the softmax output, once per (sequence, head) as a [tokens × tokens] block, from several threads
/// at once, so its quantizer must be thread-safe) and <c>v_matmul</c> (the value operand of PV, [batch tokens × hidden]).
/// </remarks>
public sealed class BertLayer
{
    /// <param name="index">Position of the layer in the encoder (0-based).</param>
    /// <param name="config">Model shape.</param>
    /// <param name="dense">Reads a LayerNorm weight or bias by name and shape.</param>
    /// <param name="linear">Makes a linear layer (with its bias) from its module name and in / out features.</param>
    internal BertLayer(int index, BertConfig config, Func<string, int[], float[]> dense, Func<string, int, int, LinearLayer> linear)
    {
        Index = index;
        string prefix = $"encoder.layer.{index}";
        int hidden = config.HiddenSize, inner = config.IntermediateSize;
        LinearLayer Linear(string module, int inFeatures, int outFeatures) => linear($"{prefix}.{module}", inFeatures, outFeatures);
        NamedTensor Norm(string name) => new($"{prefix}.{name}", [hidden], dense($"{prefix}.{name}", [hidden]));

        Query = Linear("attention.self.query", hidden, hidden);
        Key = Linear("attention.self.key", hidden, hidden);
        Value = Linear("attention.self.value", hidden, hidden);
        AttentionOutput = Linear("attention.output.dense", hidden, hidden);
        AttentionNormWeight = Norm("attention.output.LayerNorm.weight");
        AttentionNormBias = Norm("attention.output.LayerNorm.bias");
        Intermediate = Linear("intermediate.dense", hidden, inner);
        Output = Linear("output.dense", inner, hidden);
        OutputNormWeight = Norm("output.LayerNorm.weight");
        OutputNormBias = Norm("output.LayerNorm.bias");
        QueryMatMul = new($"{prefix}.attention.self.q_matmul");
        KeyMatMul = new($"{prefix}.attention.self.k_matmul");
        ProbsMatMul = new($"{prefix}.attention.self.probs_matmul");
        ValueMatMul = new($"{prefix}.attention.self.v_matmul");
    }

    /// <summary>Position of the layer in the encoder, 0-based (the i of <c>encoder.layer.{i}</c>).</summary>
    public int Index { get; }
    /// <summary><c>attention.self.query</c>, [hidden → hidden], with bias.</summary>
    public LinearLayer Query { get; }
    /// <summary><c>attention.self.key</c>, [hidden → hidden], with bias.</summary>
    public LinearLayer Key { get; }
    /// <summary><c>attention.self.value</c>, [hidden → hidden], with bias.</summary>
    public LinearLayer Value { get; }
    /// <summary><c>attention.output.dense</c>, [hidden → hidden], with bias.</summary>
    public LinearLayer AttentionOutput { get; }
    /// <summary><c>attention.output.LayerNorm.weight</c>, the gain γ after attention, [hidden].</summary>
    public NamedTensor AttentionNormWeight { get; }
    /// <summary><c>attention.output.LayerNorm.bias</c>, the shift β after attention, [hidden].</summary>
    public NamedTensor AttentionNormBias { get; }
    /// <summary><c>intermediate.dense</c>, [hidden → intermediate], with bias; GELU follows.</summary>
    public LinearLayer Intermediate { get; }
    /// <summary><c>output.dense</c>, [intermediate → hidden], with bias.</summary>
    public LinearLayer Output { get; }
    /// <summary><c>output.LayerNorm.weight</c>, the gain γ after the feed-forward block, [hidden].</summary>
    public NamedTensor OutputNormWeight { get; }
    /// <summary><c>output.LayerNorm.bias</c>, the shift β after the feed-forward block, [hidden].</summary>
    public NamedTensor OutputNormBias { get; }

    /// <summary>The query operand of QKᵀ, <c>attention.self.q_matmul</c> (see the class remarks).</summary>
    public QuantizationPoint QueryMatMul { get; }
    /// <summary>The key operand of QKᵀ, <c>attention.self.k_matmul</c>.</summary>
    public QuantizationPoint KeyMatMul { get; }
    /// <summary>The softmax probabilities, left operand of PV, <c>attention.self.probs_matmul</c>; its quantizer must be thread-safe.</summary>
    public QuantizationPoint ProbsMatMul { get; }
    /// <summary>The value operand of PV, <c>attention.self.v_matmul</c>.</summary>
    public QuantizationPoint ValueMatMul { get; }

    /// <summary>query, key, value, attention.output.dense, intermediate.dense, output.dense, in execution order.</summary>
    public IReadOnlyList<LinearLayer> Linears => [Query, Key, Value, AttentionOutput, Intermediate, Output];

    /// <summary>The four attention-matmul points: q, k, probs, v.</summary>
    public IReadOnlyList<QuantizationPoint> AttentionMatMulPoints => [QueryMatMul, KeyMatMul, ProbsMatMul, ValueMatMul];
}
