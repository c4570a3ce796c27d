using LlmFp4.Kit.Formats;
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

    /// <summary>32-code blocks a row of <paramref name="cols"/> takes (the last one padded).</summary>
    internal static int BlocksPerRow(int cols) => (cols + PackedCodes.BlockCodes - 1) / PackedCodes.BlockCodes;

    internal static void CheckShape(int length, int rows, int cols)
    {
        if (rows < 1 || cols < 1 || (long)rows * cols != length)
            throw new ArgumentException($"Packed weights: a [{rows} × {cols}] matrix (both at least 1) needs {(long)rows * cols} values, got {length}.");
    }

    internal static void CheckRows(int first, int count, int destinationLength, int rows, int cols)
    {
        if (first < 0 || count < 0 || first + count > rows)
            throw new ArgumentOutOfRangeException(nameof(first), $"Rows {first}..{first + count - 1} are outside a matrix of {rows} rows.");
        if (destinationLength < (long)count * cols)
            throw new ArgumentException($"Packed weights: destination holds {destinationLength} floats, {count} rows need {(long)count * cols}.");
    }
}
