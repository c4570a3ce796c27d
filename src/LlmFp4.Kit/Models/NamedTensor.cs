using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Models;

/// <summary>
/// A model parameter that is not a linear weight (embedding table, norm weights), under its checkpoint
/// name. <see cref="Data"/> may be replaced (e.g. by a quantized embedding or a norm with folded scales);
/// the length is checked.
/// </summary>
public sealed class NamedTensor
{
    private float[] _data;

    public NamedTensor(string name, int[] shape, float[] data)
    {
        Name = name;
        Shape = (int[])shape.Clone();
        _data = Check(data);
    }

    /// <summary>Checkpoint name, e.g. <c>model.embed_tokens.weight</c>.</summary>
    public string Name { get; }
    public int[] Shape { get; }

    public float[] Data
    {
        get => _data;
        set => _data = Check(value);
    }

    public Tensor AsTensor() => new(_data, Shape);

    public override string ToString() => $"{Name} {Tensor.FormatShape(Shape)}";

    private float[] Check(float[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        long expected = 1;
        foreach (int dim in Shape) expected *= dim;
        if (data.Length != expected)
            throw new ArgumentException($"{Name}: expected shape {Tensor.FormatShape(Shape)} ({expected} values), got {data.Length} values.");
        return data;
    }
}
