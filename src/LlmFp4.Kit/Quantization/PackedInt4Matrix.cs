using System.Buffers;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Quantization;

/// <summary>
/// Group-wise INT4 weights stored as nibbles (0.5 byte per weight) with a float32 scale and a zero-point byte per group
/// of <see cref="GroupSize"/> input channels: weight = (n − z) · scale with n the stored nibble (symmetric INT4 codes c
/// are stored as n = c + 8, z = 8). Groups must be a multiple of 32 input channels, or one group per row. The codes are
/// held input-major in strips of 16 rows (<see cref="Int4Columns"/>), the order a product reads them in.
/// </summary>
public sealed class PackedInt4Matrix : IPackedMatrix
{
    private readonly Int4Columns _columns;

    private PackedInt4Matrix(int rows, int cols, int groupSize, Int4Columns columns) => (Rows, Cols, GroupSize, _columns) = (rows, cols, groupSize, columns);

    /// <inheritdoc />
    public int Rows { get; }
    /// <inheritdoc />
    public int Cols { get; }
    /// <summary>Input channels per scale and zero point (a multiple of 32, or <see cref="Cols"/> for one group per row).</summary>
    public int GroupSize { get; }

    /// <inheritdoc />
    Int4Columns? IPackedMatrix.Int4Columns => _columns;

    /// <inheritdoc />
    public long ResidentBytes => _columns.Bytes;

    /// <summary>Min-max INT4 weights per group of <paramref name="groupSize"/> (symmetric codes −7..7, or asymmetric 0..15 with a zero point), round to nearest even.</summary>
    public static PackedInt4Matrix Quantize(ReadOnlySpan<float> weight, int rows, int cols, int groupSize = 128, bool symmetric = true)
    {
        PackedWeights.CheckShape(weight.Length, rows, cols);
        var grid = IntQuantizer.MinMax(symmetric ? IntFormat.Symmetric(4) : IntFormat.Asymmetric(4), Granularity.PerGroup(groupSize), weight, rows, cols);
        return FromQuantized(grid.Quantize(weight, rows, cols), rows, cols, grid);
    }

    /// <summary>
    /// Packs weights already fake-quantized on a 4-bit per-group (or per-row) grid, e.g. by GPTQ. Throws
    /// <see cref="ArgumentException"/> for a grid the layout cannot take and <see cref="InvalidDataException"/> if a
    /// weight is not on the grid.
    /// </summary>
    public static PackedInt4Matrix FromQuantized(ReadOnlySpan<float> quantized, int rows, int cols, IntQuantizer grid)
    {
        ArgumentNullException.ThrowIfNull(grid);
        PackedWeights.CheckShape(quantized.Length, rows, cols);
        int groupSize = grid.Granularity.Kind switch
        {
            GranularityKind.PerGroup => Math.Min(grid.Granularity.GroupSize, cols),
            GranularityKind.PerRow => cols,
            _ => throw new ArgumentException($"INT4 packing needs one scale per group or per row, got {grid.Granularity}."),
        };
        if (grid.Format.Bits != 4) throw new ArgumentException($"INT4 packing needs a 4-bit grid, got {grid.Format}.");
        if (groupSize % 32 != 0 && groupSize != cols)
            throw new ArgumentException($"INT4 packing: group size {groupSize} is not a multiple of 32 and not the whole row ({cols}).");
        int groups = (cols + groupSize - 1) / groupSize;
        if (grid.Scales.Length != rows * groups) throw new ArgumentException($"INT4 packing: the grid has {grid.Scales.Length} scales, a [{rows} × {cols}] matrix needs {rows * groups}.");
        int offset = grid.Format.IsSymmetric ? 8 : 0;
        var zeros = new byte[rows * groups];
        var codes = new byte[quantized.Length];
        for (int r = 0; r < rows; r++)
            for (int g = 0; g < groups; g++)
            {
                int slot = r * groups + g, zero = grid.ZeroPoints.Length == 0 ? 0 : grid.ZeroPoints[slot];
                float scale = grid.Scales[slot];
                zeros[slot] = (byte)(zero + offset);
                for (int j = g * groupSize; j < Math.Min(cols, (g + 1) * groupSize); j++)
                {
                    float q = quantized[r * cols + j];
                    int code = (scale > 0 ? (int)MathF.Round(q / scale) : 0) + zero;
                    if (code < grid.Format.QMin || code > grid.Format.QMax || grid.Format.Decode(code, scale, zero) != q)
                        throw new InvalidDataException($"INT4 packing: weight [{r}, {j}] = {q} is not on the {grid.Format} grid of scale {scale}.");
                    codes[r * cols + j] = (byte)(code + offset);
                }
            }
        return new PackedInt4Matrix(rows, cols, groupSize, Int4Columns.Pack(codes, zeros, grid.Scales, rows, cols, groupSize));
    }

    /// <inheritdoc />
    public void DecodeRows(int first, int count, Span<float> destination) => DecodeRows(first, count, destination, vectorized: true);

    /// <summary>As <see cref="DecodeRows(int, int, Span{float})"/>, forcing the scalar reference when <paramref name="vectorized"/> is false.</summary>
    public void DecodeRows(int first, int count, Span<float> destination, bool vectorized)
    {
        PackedWeights.CheckRows(first, count, destination.Length, Rows, Cols);
        if (count == 0) return;
        float[] columns = ArrayPool<float>.Shared.Rent(count * Cols);
        try
        {
            DecodeColumns(first, count, columns, count, vectorized);
            PackedWeights.Transpose(columns, Cols, count, destination, Cols);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(columns);
        }
    }

    /// <inheritdoc />
    public void DecodeColumns(int first, int count, Span<float> destination, int stride) => DecodeColumns(first, count, destination, stride, vectorized: true);

    /// <summary>As <see cref="DecodeColumns(int, int, Span{float}, int)"/>, forcing the scalar reference when <paramref name="vectorized"/> is false.</summary>
    public void DecodeColumns(int first, int count, Span<float> destination, int stride, bool vectorized)
    {
        PackedWeights.CheckColumns(first, count, destination.Length, stride, Rows, Cols);
        _columns.DecodeColumns(first, count, destination, stride, vectorized);
    }

    /// <summary>Group size, shape and resident bytes.</summary>
    public override string ToString() => $"INT4 group {GroupSize} packed [{Rows} × {Cols}], {ResidentBytes} bytes";
}
