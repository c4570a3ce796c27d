using System.Text.Json.Serialization;

namespace LlmFp4.Kit.Quantization;

/// <summary>
/// A fake quantizer whose parameters are fixed data, so a calibration result can be saved as JSON and reloaded
/// (the <c>type</c> property tells the kinds apart). The same objects quantize weights once (rows = output
/// channels) and activations at every forward (rows = tokens). Apply is thread-safe.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(FpQuantizer), "fp")]
[JsonDerivedType(typeof(IntQuantizer), "int")]
[JsonDerivedType(typeof(DynamicIntQuantizer), "int_dynamic")]
[JsonDerivedType(typeof(ColumnScaledQuantizer), "column_scaled")]
public abstract record TensorQuantizer : ITensorQuantizer
{
    /// <inheritdoc />
    public abstract void Apply(Span<float> values, int rows, int cols);

    /// <summary>Writes the quantized [rows × cols] <paramref name="source"/> into <paramref name="destination"/> (same length, not overlapping unless identical).</summary>
    public virtual void Apply(ReadOnlySpan<float> source, Span<float> destination, int rows, int cols)
    {
        if (destination.Length != source.Length)
            throw new ArgumentException($"{this}: destination holds {destination.Length} values, source {source.Length}.");
        source.CopyTo(destination);
        Apply(destination, rows, cols);
    }

    /// <summary>A quantized copy of a row-major [rows × cols] matrix.</summary>
    public float[] Quantize(ReadOnlySpan<float> values, int rows, int cols)
    {
        var copy = new float[values.Length];
        Apply(values, copy, rows, cols);
        return copy;
    }

    /// <summary>The shape check every <see cref="Apply(Span{float}, int, int)"/> starts with.</summary>
    /// <exception cref="ArgumentException"><paramref name="values"/> does not hold <paramref name="rows"/> · <paramref name="cols"/> elements; the message starts with <paramref name="what"/>.</exception>
    protected static void CheckShape(Span<float> values, int rows, int cols, string what)
    {
        if (rows < 0 || cols < 0 || (long)rows * cols != values.Length)
            throw new ArgumentException($"{what}: a [{rows} × {cols}] block needs {(long)rows * cols} values, got {values.Length}.");
    }
}
