using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Quantization;

/// <summary>Packed storage for quantized linear weights: FP6 E3M2 per row (4+2 bit planes) or INT4 per group (nibbles).</summary>
public static class PackedWeights
{
    /// <summary>
    /// Packs a [rows × cols] weight already fake-quantized on <paramref name="grid"/>: an E3M2 per-row
    /// <see cref="FpQuantizer"/> gives a <see cref="PackedFp6Matrix"/>, a 4-bit per-group <see cref="IntQuantizer"/> a
    /// <see cref="PackedInt4Matrix"/>. <paramref name="what"/> names the weight in errors.
    /// </summary>
    public static IPackedMatrix FromQuantized(ReadOnlySpan<float> quantized, int rows, int cols, TensorQuantizer grid, string what)
    {
        try
        {
            return grid switch
            {
                FpQuantizer fp => PackedFp6Matrix.FromQuantized(quantized, rows, cols, fp),
                IntQuantizer integer => PackedInt4Matrix.FromQuantized(quantized, rows, cols, integer),
                _ => throw new ArgumentException($"no packed storage for a {grid} grid."),
            };
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidDataException)
        {
            throw new InvalidDataException($"{what}: cannot pack the weight ({ex.Message})", ex);
        }
    }
}
