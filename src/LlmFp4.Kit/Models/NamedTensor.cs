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

    /// <summary>The parameter <paramref name="name"/> of shape <paramref name="shape"/> (copied), holding <paramref name="data"/> row-major (held, not copied).</summary>
    /// <exception cref="ArgumentException"><paramref name="data"/>'s length is not the product of the shape; the message names the tensor.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> is null.</exception>
    public NamedTensor(string name, int[] shape, float[] data)
    {
        Name = name;
        Shape = (int[])shape.Clone();
        _data = Check(data);
    }

    /// <summary>Checkpoint name, e.g. <c>model.embed_tokens.weight</c>.</summary>
    public string Name { get; }
    /// <summary>Dimension sizes, outermost first (an embedding [vocab × hidden], a norm weight [hidden]).</summary>
    public int[] Shape { get; }

    /// <summary>The values, row-major; a replacement must have the same length.</summary>
    /// <exception cref="ArgumentException">Set to an array of another length; the message names the tensor.</exception>
    /// <exception cref="ArgumentNullException">Set to null.</exception>
    public float[] Data
    {
        get => _data;
        set => _data = Check(value);
    }

    /// <summary>A <see cref="Tensor"/> over <see cref="Data"/> (no copy).</summary>
    public Tensor AsTensor() => new(_data, Shape);

    /// <summary>"name [shape]".</summary>
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
