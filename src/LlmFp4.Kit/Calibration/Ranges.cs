using LlmFp4.Kit.Formats;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// Clipping ranges (max|x|) of a tensor, its rows or its columns, and the exponent biases they give through
/// <see cref="FpFormat.BiasForMaxValue"/> (an all-zero slot keeps the format's own bias).
/// </summary>
internal static class Ranges
{
    /// <summary>Per-row biases of a [rows × cols] matrix from each row's max|x|.</summary>
    public static double[] RowBiases(FpFormat baseFormat, ReadOnlySpan<float> matrix, int rows, int cols)
    {
        var max = new float[rows];
        FakeQuant.AbsMax(matrix, rows, cols, Granularity.PerRow, max);
        return [.. max.Select(m => baseFormat.BiasForMaxValue(m))];
    }

    /// <summary>Per-column max|x| of a [rows × cols] matrix (the per-input-channel ranges of an activation).</summary>
    public static float[] ColumnAbsMax(ReadOnlySpan<float> matrix, int rows, int cols)
    {
        var max = new float[cols];
        FakeQuant.AbsMax(matrix, rows, cols, Granularity.PerColumn, max);
        return max;
    }

    /// <summary>max|x| of the whole matrix (0 when empty; NaN when it holds a NaN).</summary>
    public static float AbsMax(ReadOnlySpan<float> matrix) =>
        matrix.IsEmpty ? 0 : MathF.Abs(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(matrix));

    /// <summary>Throws <see cref="InvalidDataException"/> naming <paramref name="what"/> when <paramref name="values"/> hold NaN or ±infinity.</summary>
    public static void RequireFinite(ReadOnlySpan<float> values, string what)
    {
        if (!values.IsEmpty && !float.IsFinite(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(values)))
            throw new InvalidDataException($"calibration: {what} holds NaN or infinity; calibration needs finite values.");
    }
}
