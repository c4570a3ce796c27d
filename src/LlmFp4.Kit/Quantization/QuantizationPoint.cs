namespace LlmFp4.Kit.Quantization;

/// <summary>A named place in a model where a quantizer may be plugged in; null = off (costs nothing).</summary>
public sealed class QuantizationPoint(string name)
{
    public string Name { get; } = name;
    public ITensorQuantizer? Quantizer { get; set; }

    public override string ToString() => Name;
}
