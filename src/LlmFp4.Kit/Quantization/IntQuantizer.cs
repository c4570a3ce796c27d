using LlmFp4.Kit.Formats;

namespace LlmFp4.Kit.Quantization;

/// <summary>
/// Static INT fake quantization: x → (clamp(round(x / s) + z) - z)·s with one scale s (and zero point z; empty
/// <see cref="ZeroPoints"/> = all 0) per <see cref="Granularity"/> slot.
/// </summary>
public sealed record IntQuantizer(IntFormat Format, Granularity Granularity, float[] Scales, int[] ZeroPoints) : TensorQuantizer
{
    /// <summary>Min-max parameters per slot from the data's min and max (symmetric: max|x| / QMax).</summary>
    public static IntQuantizer FromRange(IntFormat format, Granularity granularity, ReadOnlySpan<float> minimum, ReadOnlySpan<float> maximum)
    {
        var scales = new float[minimum.Length];
        var zeros = format.IsSymmetric ? [] : new int[minimum.Length];
        for (int i = 0; i < scales.Length; i++)
        {
            var (scale, zero) = format.MinMaxParameters(minimum[i], maximum[i]);
            scales[i] = scale;
            if (!format.IsSymmetric) zeros[i] = zero;
        }
        return new IntQuantizer(format, granularity, scales, zeros);
    }

    /// <summary>Min-max parameters measured on a [rows × cols] matrix (weights: per row).</summary>
    public static IntQuantizer MinMax(IntFormat format, Granularity granularity, ReadOnlySpan<float> values, int rows, int cols)
    {
        int count = granularity.ScaleCount(rows, cols);
        var minimum = new float[count];
        var maximum = new float[count];
        FakeQuant.MinMax(values, rows, cols, granularity, minimum, maximum);
        return FromRange(format, granularity, minimum, maximum);
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">A shape that does not match <paramref name="values"/>, or <see cref="Scales"/> (and non-empty <see cref="ZeroPoints"/>) not of <see cref="Granularity"/>'s scale count for it.</exception>
    public override void Apply(Span<float> values, int rows, int cols)
    {
        CheckShape(values, rows, cols, ToString());
        FakeQuant.QuantizeMatrix(values, rows, cols, Format, Granularity, Scales, ZeroPoints, values);
    }

    /// <summary>Format, granularity and the number of scales.</summary>
    public override string ToString() => $"{Format} {Granularity} ({Scales.Length} scales)";
}
