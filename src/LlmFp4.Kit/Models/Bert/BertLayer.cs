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

    public int Index { get; }
    public LinearLayer Query { get; }
    public LinearLayer Key { get; }
    public LinearLayer Value { get; }
    public LinearLayer AttentionOutput { get; }
    public NamedTensor AttentionNormWeight { get; }
    public NamedTensor AttentionNormBias { get; }
    public LinearLayer Intermediate { get; }
    public LinearLayer Output { get; }
    public NamedTensor OutputNormWeight { get; }
    public NamedTensor OutputNormBias { get; }

    public QuantizationPoint QueryMatMul { get; }
    public QuantizationPoint KeyMatMul { get; }
    public QuantizationPoint ProbsMatMul { get; }
    public QuantizationPoint ValueMatMul { get; }

    /// <summary>query, key, value, attention.output.dense, intermediate.dense, output.dense, in execution order.</summary>
    public IReadOnlyList<LinearLayer> Linears => [Query, Key, Value, AttentionOutput, Intermediate, Output];

    public IReadOnlyList<QuantizationPoint> AttentionMatMulPoints => [QueryMatMul, KeyMatMul, ProbsMatMul, ValueMatMul];
}
