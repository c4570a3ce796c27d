using System.Buffers;
using LlmFp4.Kit.Formats;

namespace LlmFp4.Kit.Quantization;

/// <summary>
/// Per-token dynamic INT quantization: each row (token) gets min-max parameters from its own values at run time
/// (symmetric: scale = max|row| / QMax). Nothing is calibrated.
/// </summary>
public sealed record DynamicIntQuantizer(IntFormat Format) : TensorQuantizer
{
    /// <inheritdoc />
    /// <exception cref="ArgumentException"><paramref name="values"/> does not hold <paramref name="rows"/> · <paramref name="cols"/> elements.</exception>
    public override void Apply(Span<float> values, int rows, int cols)
    {
        CheckShape(values, rows, cols, ToString());
        if (rows == 0) return;
        float[] minimum = ArrayPool<float>.Shared.Rent(rows), maximum = ArrayPool<float>.Shared.Rent(rows), scales = ArrayPool<float>.Shared.Rent(rows);
        int[] zeros = ArrayPool<int>.Shared.Rent(rows);
        try
        {
            var min = minimum.AsSpan(0, rows);
            var max = maximum.AsSpan(0, rows);
            FakeQuant.MinMax(values, rows, cols, Granularity.PerRow, min, max);
            for (int r = 0; r < rows; r++)
                (scales[r], zeros[r]) = Format.MinMaxParameters(min[r], max[r]);
            FakeQuant.QuantizeMatrix(values, rows, cols, Format, Granularity.PerRow, scales.AsSpan(0, rows),
                Format.IsSymmetric ? [] : zeros.AsSpan(0, rows), values);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(minimum);
            ArrayPool<float>.Shared.Return(maximum);
            ArrayPool<float>.Shared.Return(scales);
            ArrayPool<int>.Shared.Return(zeros);
        }
    }

    /// <summary>The format and "per-token dynamic".</summary>
    public override string ToString() => $"{Format} per-token dynamic";
}
