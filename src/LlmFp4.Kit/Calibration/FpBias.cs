using LlmFp4.Kit.Formats;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// The LLM-FP4 exponent bias as a function of the clipping range: for a bias-0 format with largest value
/// M0, b = log2(M0 / maxval) (= 2^e - log2(maxval) + log2(2 - 2^-m) - 1 for e ≥ 1). A zero range gives +∞, whose
/// scale 2^-b is 0: everything quantizes to 0.
/// </summary>
internal static class FpBias
{
    public static double ForMaxValue(FpFormat baseFormat, double maxValue) =>
        baseFormat.Bias + Math.Log2(baseFormat.MaxValue / maxValue);

    /// <summary>Per-row biases of a [rows × cols] matrix from each row's max|x|.</summary>
    public static double[] PerRow(FpFormat baseFormat, ReadOnlySpan<float> matrix, int rows, int cols)
    {
        var max = new float[rows];
        FakeQuant.AbsMax(matrix, rows, cols, Granularity.PerRow, max);
        return [.. max.Select(m => ForMaxValue(baseFormat, m))];
    }

    /// <summary>Per-column max|x| of a [rows × cols] matrix (the per-input-channel ranges of an activation).</summary>
    public static float[] ColumnAbsMax(ReadOnlySpan<float> matrix, int rows, int cols)
    {
        var max = new float[cols];
        FakeQuant.AbsMax(matrix, rows, cols, Granularity.PerColumn, max);
        return max;
    }

    /// <summary>max|x| of the whole matrix.</summary>
    public static float AbsMax(ReadOnlySpan<float> matrix) =>
        matrix.IsEmpty ? 0 : MathF.Abs(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(matrix));
}
