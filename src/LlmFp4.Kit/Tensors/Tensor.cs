namespace LlmFp4.Kit.Tensors;

/// <summary>
/// A float32 array with a row-major shape. The array is held, not copied, so a tensor can wrap
/// weights a model or loader already owns.
/// </summary>
public sealed class Tensor
{
    /// <summary>The elements in row-major order; held, not copied.</summary>
    public float[] Data { get; }
    /// <summary>Dimension sizes, outermost first (a copy of the shape given at construction).</summary>
    public int[] Shape { get; }

    /// <summary>A zero-filled tensor of the given shape.</summary>
    public Tensor(params int[] shape) : this(new float[CheckedLength(shape)], shape) { }

    /// <summary>Wraps <paramref name="data"/> (no copy); its length must equal the product of the shape.</summary>
    public Tensor(float[] data, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        long expected = CheckedLength(shape);
        if (data.Length != expected)
            throw new ArgumentException($"Tensor data has {data.Length} elements but shape {FormatShape(shape)} needs {expected}.");
        Data = data;
        Shape = (int[])shape.Clone();
    }

    /// <summary>Number of dimensions.</summary>
    public int Rank => Shape.Length;
    /// <summary>Number of elements, the product of <see cref="Shape"/>.</summary>
    public int Length => Data.Length;
    /// <summary>The elements as a span over <see cref="Data"/>.</summary>
    public Span<float> Span => Data;

    /// <summary>Elements per slice along the first dimension (1 for a vector).</summary>
    public int RowLength => Rank == 0 ? 1 : Shape[0] == 0 ? 0 : Data.Length / Shape[0];

    /// <summary>Slice <paramref name="index"/> along the first dimension (a row of a matrix).</summary>
    public Span<float> Row(int index)
    {
        if (Rank == 0) throw new InvalidOperationException("A scalar tensor has no rows.");
        if ((uint)index >= (uint)Shape[0])
            throw new ArgumentOutOfRangeException(nameof(index), $"Row {index} is outside a tensor of shape {FormatShape(Shape)}.");
        int length = RowLength;
        return Data.AsSpan(index * length, length);
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming <paramref name="name"/> unless the shape is <paramref name="expected"/>.</summary>
    public void CheckShape(string name, params int[] expected)
    {
        if (!Shape.AsSpan().SequenceEqual(expected))
            throw new ArgumentException($"{name}: expected shape {FormatShape(expected)}, got {FormatShape(Shape)}.");
    }

    /// <summary>"Tensor[d0, d1, …]".</summary>
    public override string ToString() => $"Tensor{FormatShape(Shape)}";

    /// <summary>A shape as "[d0, d1, …]", the form error messages use.</summary>
    internal static string FormatShape(ReadOnlySpan<int> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";

    private static int CheckedLength(int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long length = 1;
        foreach (int dim in shape)
        {
            if (dim < 0) throw new ArgumentException($"Tensor shape {FormatShape(shape)} has a negative dimension.");
            length *= dim;
            if (length > Array.MaxLength) throw new ArgumentException($"Tensor shape {FormatShape(shape)} is too large for one array.");
        }
        return (int)length;
    }
}
