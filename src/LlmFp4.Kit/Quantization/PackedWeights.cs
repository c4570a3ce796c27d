using System.Runtime.Intrinsics.X86;
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

    /// <summary>
    /// destination[c · destinationStride + r] = source[r · cols + c] for a [rows × cols] source: the other layout of a
    /// decoded tile. Whole 16 × 16 blocks are transposed in registers with AVX-512 (<see cref="ManagedGemm.Transpose16x16"/>),
    /// the rest element by element (<see cref="TransposeScalar"/>). Moves values only.
    /// </summary>
    internal static unsafe void Transpose(ReadOnlySpan<float> source, int rows, int cols, Span<float> destination, int destinationStride)
    {
        if (source.Length < (long)rows * cols || (cols > 0 && destination.Length < (long)(cols - 1) * destinationStride + rows))
            throw new ArgumentException($"Transpose: [{rows} × {cols}] from {source.Length} floats into {destination.Length} with stride {destinationStride}.");
        int wholeRows = Avx512F.IsSupported ? rows / 16 * 16 : 0, wholeCols = cols / 16 * 16;
        fixed (float* from = source, to = destination)
            for (int r = 0; r < wholeRows; r += 16)
                for (int c = 0; c < wholeCols; c += 16)
                    ManagedGemm.Transpose16x16(from + (long)r * cols + c, cols, to + (long)c * destinationStride + r, destinationStride);
        TransposeScalar(source, rows, cols, destination, destinationStride, wholeRows, wholeRows == 0 ? 0 : wholeCols);
    }

    /// <summary>The scalar definition of <see cref="Transpose"/>, for every element outside the first <paramref name="doneRows"/> × <paramref name="doneCols"/> block.</summary>
    internal static void TransposeScalar(ReadOnlySpan<float> source, int rows, int cols, Span<float> destination, int destinationStride, int doneRows = 0, int doneCols = 0)
    {
        for (int r = 0; r < rows; r++)
            for (int c = r < doneRows ? doneCols : 0; c < cols; c++)
                destination[c * destinationStride + r] = source[r * cols + c];
    }

    internal static void CheckShape(int length, int rows, int cols)
    {
        if (rows < 1 || cols < 1 || (long)rows * cols != length)
            throw new ArgumentException($"Packed weights: a [{rows} × {cols}] matrix (both at least 1) needs {(long)rows * cols} values, got {length}.");
    }

    internal static void CheckColumns(int first, int count, int destinationLength, int stride, int rows, int cols)
    {
        if (first < 0 || count < 0 || first + count > rows)
            throw new ArgumentOutOfRangeException(nameof(first), $"Rows {first}..{first + count - 1} are outside a matrix of {rows} rows.");
        if (stride < count || destinationLength < (long)(cols - 1) * stride + count)
            throw new ArgumentException($"Packed weights: {count} rows decoded as columns need a stride of at least {count} and {(long)(cols - 1) * stride + count} floats, got stride {stride} and {destinationLength}.");
    }

    internal static void CheckRows(int first, int count, int destinationLength, int rows, int cols)
    {
        if (first < 0 || count < 0 || first + count > rows)
            throw new ArgumentOutOfRangeException(nameof(first), $"Rows {first}..{first + count - 1} are outside a matrix of {rows} rows.");
        if (destinationLength < (long)count * cols)
            throw new ArgumentException($"Packed weights: destination holds {destinationLength} floats, {count} rows need {(long)count * cols}.");
    }
}
