using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Quantization;

/// <summary>
/// Group-wise INT4 weights stored as nibbles (the 4-bit plane of <see cref="PackedCodes"/>: 0.5 byte per weight) with a
/// float32 scale and a zero-point byte per group of <see cref="GroupSize"/> input channels: weight = (n − z) · scale with
/// n the stored nibble (symmetric INT4 codes c are stored as n = c + 8, z = 8). Groups must cover whole 32-code blocks
/// (group size a multiple of 32, or one group per row); rows are padded to whole blocks.
/// </summary>
public sealed class PackedInt4Matrix : IPackedMatrix
{
    private readonly byte[] _nibbles;
    private readonly float[] _scales;
    private readonly byte[] _zeros;
    private readonly int _blocksPerRow;
    private readonly int _groupsPerRow;

    private PackedInt4Matrix(int rows, int cols, int groupSize, byte[] nibbles, float[] scales, byte[] zeros)
    {
        Rows = rows;
        Cols = cols;
        GroupSize = groupSize;
        _blocksPerRow = PackedWeights.BlocksPerRow(cols);
        _groupsPerRow = (cols + groupSize - 1) / groupSize;
        (_nibbles, _scales, _zeros) = (nibbles, scales, zeros);
    }

    /// <inheritdoc />
    public int Rows { get; }
    /// <inheritdoc />
    public int Cols { get; }
    /// <summary>Input channels per scale and zero point (a multiple of 32, or <see cref="Cols"/> for one group per row).</summary>
    public int GroupSize { get; }

    /// <inheritdoc />
    public long ResidentBytes => _nibbles.Length + 4L * _scales.Length + _zeros.Length;

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
        if (groupSize % PackedCodes.BlockCodes != 0 && groupSize != cols)
            throw new ArgumentException($"INT4 packing: group size {groupSize} is not a multiple of {PackedCodes.BlockCodes} (the packing block) and not the whole row ({cols}).");
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
        int blocks = PackedWeights.BlocksPerRow(cols);
        var nibbles = new byte[(long)rows * blocks * PackedCodes.FourBitBlockBytes];
        Span<byte> block = stackalloc byte[PackedCodes.BlockCodes];
        for (int r = 0; r < rows; r++)
            for (int b = 0; b < blocks; b++)
            {
                block.Fill((byte)offset);
                int start = b * PackedCodes.BlockCodes, length = Math.Min(PackedCodes.BlockCodes, cols - start);
                codes.AsSpan(r * cols + start, length).CopyTo(block);
                PackedCodes.PackFourBitBlock(block, nibbles.AsSpan((r * blocks + b) * PackedCodes.FourBitBlockBytes, PackedCodes.FourBitBlockBytes));
            }
        return new PackedInt4Matrix(rows, cols, groupSize, nibbles, [.. grid.Scales], zeros);
    }

    /// <inheritdoc />
    public void DecodeRows(int first, int count, Span<float> destination) => DecodeRows(first, count, destination, vectorized: true);

    /// <summary>As <see cref="DecodeRows(int, int, Span{float})"/>, forcing the scalar reference when <paramref name="vectorized"/> is false.</summary>
    public void DecodeRows(int first, int count, Span<float> destination, bool vectorized)
    {
        PackedWeights.CheckRows(first, count, destination.Length, Rows, Cols);
        Span<float> tail = stackalloc float[PackedCodes.BlockCodes];
        for (int r = first; r < first + count; r++)
        {
            var row = destination.Slice((r - first) * Cols, Cols);
            for (int g = 0; g < _groupsPerRow; g++)
            {
                // A group is whole blocks except for the row's padded last block, which goes through the tail buffer.
                int start = g * GroupSize, end = Math.Min(Cols, start + GroupSize);
                int full = (end - start) / PackedCodes.BlockCodes, rest = end - start - full * PackedCodes.BlockCodes;
                int block = r * _blocksPerRow + start / PackedCodes.BlockCodes, slot = r * _groupsPerRow + g;
                Decode(block, full, slot, row.Slice(start, full * PackedCodes.BlockCodes), vectorized);
                if (rest == 0) continue;
                Decode(block + full, 1, slot, tail, vectorized);
                tail[..rest].CopyTo(row[(start + full * PackedCodes.BlockCodes)..end]);
            }
        }
    }

    private void Decode(int block, int blocks, int slot, Span<float> destination, bool vectorized)
    {
        var nibbles = _nibbles.AsSpan(block * PackedCodes.FourBitBlockBytes, blocks * PackedCodes.FourBitBlockBytes);
        if (vectorized) PackedCodes.DecodeInt4Blocks(nibbles, _zeros[slot], _scales[slot], destination);
        else PackedCodes.DecodeInt4BlocksScalar(nibbles, _zeros[slot], _scales[slot], destination);
    }

    /// <summary>Group size, shape and resident bytes.</summary>
    public override string ToString() => $"INT4 group {GroupSize} packed [{Rows} × {Cols}], {ResidentBytes} bytes";
}
