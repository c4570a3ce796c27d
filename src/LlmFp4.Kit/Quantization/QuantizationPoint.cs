namespace LlmFp4.Kit.Quantization;

/// <summary>A named place in a model where a quantizer may be plugged in; null = off (costs nothing).</summary>
public sealed class QuantizationPoint(string name)
{
    /// <summary>The point's name, the Hugging Face module path of the operand it quantizes, e.g. "model.layers.0.self_attn.q_matmul".</summary>
    public string Name { get; } = name;
    /// <summary>The quantizer applied at this point on every forward; null leaves the tensor in float32.</summary>
    public ITensorQuantizer? Quantizer { get; set; }

    /// <summary><see cref="Name"/>.</summary>
    public override string ToString() => Name;
}
