using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// The real reparameterisation of FPQ's pre-shifted exponent bias (docs/methods.md §4). Channel j of the activation is
/// quantized with bias ρ + o_j, i.e. with scale 2^-ρ·β_j where β_j = 2^-o_j. Since
/// β_j·s·Q(x / (β_j·s)) · w = s·Q((x / β_j) / s) · (β_j·w), the activation can be quantized with the single shared
/// bias ρ after dividing channel j by β_j, and β_j folded into weight column j: O = α_x α_w X~ (β ⊙ W~).
/// Every factor is a power of two, so the folded layer reproduces the simulated one bit for bit (as long as no
/// folded float32 weight becomes subnormal).
/// </summary>
public static class PreShiftedFold
{
    /// <summary>
    /// The folded weight (column j of <paramref name="quantizedWeight"/> times 2^-o_j) and the input quantizer that
    /// divides channel j by 2^-o_j and quantizes the whole tensor with the shared bias ρ of <paramref name="preShifted"/>
    /// (an <see cref="FpQuantizer.PreShifted"/> quantizer: bias ρ = Biases[0], offsets o_j).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="preShifted"/> has no offsets, or the shapes disagree.</exception>
    public static (float[] Weight, TensorQuantizer InputQuantizer) Fold(ReadOnlySpan<float> quantizedWeight, int rows, int cols, FpQuantizer preShifted)
    {
        ArgumentNullException.ThrowIfNull(preShifted);
        var offsets = preShifted.Offsets ?? throw new ArgumentException($"PreShiftedFold: {preShifted} has no channel offsets.", nameof(preShifted));
        if (offsets.Length != cols) throw new ArgumentException($"PreShiftedFold: {offsets.Length} offsets for {cols} input channels.");
        if (quantizedWeight.Length != rows * cols) throw new ArgumentException($"PreShiftedFold: the weight must be [{rows} × {cols}].");
        var beta = Betas(offsets);
        return (ChannelScaling.ScaleColumns(quantizedWeight, rows, cols, beta),
            new ColumnScaledQuantizer(beta, FpQuantizer.PerTensor(preShifted.Format, preShifted.Biases[0])));
    }

    /// <summary>
    /// Counts folded weights β_j·ŵ_rj that are no longer values of row r's weight format (the reference code never
    /// checked): β ≤ 1 only shrinks, so they fall under the format's subnormal step (inexact) or round to zero.
    /// </summary>
    public static FoldCheck Check(ReadOnlySpan<float> quantizedWeight, int rows, int cols, FpQuantizer weightQuantizer, ReadOnlySpan<int> offsets)
    {
        ArgumentNullException.ThrowIfNull(weightQuantizer);
        if (weightQuantizer.Granularity != Granularity.PerRow) throw new ArgumentException("PreShiftedFold.Check needs a per-row weight grid.");
        var beta = Betas(offsets);
        var folded = new float[cols];
        var requantized = new float[cols];
        long nonZero = 0, offGrid = 0, flushed = 0;
        for (int r = 0; r < rows; r++)
        {
            var row = quantizedWeight.Slice(r * cols, cols);
            for (int j = 0; j < cols; j++) folded[j] = row[j] * beta[j];
            FakeQuant.Quantize(folded, weightQuantizer.Format, weightQuantizer.Scales[r], requantized);
            for (int j = 0; j < cols; j++)
            {
                if (row[j] == 0) continue;
                nonZero++;
                if (requantized[j] != folded[j]) offGrid++;
                if (requantized[j] == 0) flushed++;
            }
        }
        return new FoldCheck(nonZero, offGrid, flushed);
    }

    private static float[] Betas(ReadOnlySpan<int> offsets)
    {
        var beta = new float[offsets.Length];
        for (int j = 0; j < beta.Length; j++) beta[j] = MathF.ScaleB(1f, -offsets[j]);
        return beta;
    }
}
