using System.Buffers;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Quantization;

/// <summary>
/// Group-wise INT4 weights stored as nibbles (0.5 byte per weight) with a float32 scale and a zero-point byte per group
/// of <see cref="GroupSize"/> input channels: weight = (n − z) · scale with n the stored nibble (symmetric INT4 codes c
/// are stored as n = c + 8, z = 8). Groups must be a multiple of 32 input channels, or one group per row.
/// </summary>
/// <remarks>
/// The nibbles are stored input-major, in strips of 16 rows: for every strip and every pair of input channels (2p, 2p + 1),
/// 16 bytes, byte i holding row 16·strip + i's code at 2p in its low nibble and at 2p + 1 in its high nibble (rows padded
/// to whole strips, columns to an even count). Scales and zero points are stored 16 per (strip, group) the same way. A
/// product reads W one input channel at a time across the outputs (per output, k ascending: the GEMM's summation order),
/// and one 16-byte load here decodes 16 outputs at two input channels in that order (<see cref="DecodeColumns(int, int, Span{float}, int)"/>),
/// where rows stored one after another would need a transpose of every decoded tile.
/// </remarks>
public sealed class PackedInt4Matrix : IPackedMatrix
{
    private const int StripRows = 16;
    private readonly byte[] _nibbles;  // [strips × pairs × 16]
    private readonly float[] _scales;  // [strips × groups × 16]
    private readonly byte[] _zeros;    // [strips × groups × 16]
    private readonly int _pairs;
    private readonly int _groupsPerRow;

    private PackedInt4Matrix(int rows, int cols, int groupSize, byte[] nibbles, float[] scales, byte[] zeros)
    {
        Rows = rows;
        Cols = cols;
        GroupSize = groupSize;
        _pairs = (cols + 1) / 2;
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
        if (groupSize % 32 != 0 && groupSize != cols)
            throw new ArgumentException($"INT4 packing: group size {groupSize} is not a multiple of 32 and not the whole row ({cols}).");
        int groups = (cols + groupSize - 1) / groupSize;
        if (grid.Scales.Length != rows * groups) throw new ArgumentException($"INT4 packing: the grid has {grid.Scales.Length} scales, a [{rows} × {cols}] matrix needs {rows * groups}.");
        int offset = grid.Format.IsSymmetric ? 8 : 0;
        int strips = (rows + StripRows - 1) / StripRows, pairs = (cols + 1) / 2;
        var zeros = new byte[strips * groups * StripRows];
        var scales = new float[strips * groups * StripRows];
        var nibbles = new byte[(long)strips * pairs * StripRows];
        for (int r = 0; r < rows; r++)
            for (int g = 0; g < groups; g++)
            {
                int slot = r * groups + g, zero = grid.ZeroPoints.Length == 0 ? 0 : grid.ZeroPoints[slot];
                int packedSlot = ((r / StripRows) * groups + g) * StripRows + r % StripRows;
                float scale = grid.Scales[slot];
                zeros[packedSlot] = (byte)(zero + offset);
                scales[packedSlot] = scale;
                for (int j = g * groupSize; j < Math.Min(cols, (g + 1) * groupSize); j++)
                {
                    float q = quantized[r * cols + j];
                    int code = (scale > 0 ? (int)MathF.Round(q / scale) : 0) + zero;
                    if (code < grid.Format.QMin || code > grid.Format.QMax || grid.Format.Decode(code, scale, zero) != q)
                        throw new InvalidDataException($"INT4 packing: weight [{r}, {j}] = {q} is not on the {grid.Format} grid of scale {scale}.");
                    nibbles[((long)(r / StripRows) * pairs + j / 2) * StripRows + r % StripRows] |= (byte)((code + offset) << (4 * (j & 1)));
                }
            }
        return new PackedInt4Matrix(rows, cols, groupSize, nibbles, scales, zeros);
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

    /// <summary>
    /// As <see cref="DecodeColumns(int, int, Span{float}, int)"/>, forcing the scalar reference when
    /// <paramref name="vectorized"/> is false. Whole strips decode with AVX-512: 16 bytes widened to 16 lanes give two input
    /// channels of 16 rows, each (n − z) converted exactly and multiplied by the scale once, as the scalar path does.
    /// </summary>
    public void DecodeColumns(int first, int count, Span<float> destination, int stride, bool vectorized)
    {
        PackedWeights.CheckColumns(first, count, destination.Length, stride, Rows, Cols);
        for (int r = first; r < first + count;)
        {
            if (vectorized && Avx512F.IsSupported && r % StripRows == 0 && r + StripRows <= first + count)
            {
                DecodeStrip(r / StripRows, destination[(r - first)..], stride);
                r += StripRows;
                continue;
            }
            for (int k = 0; k < Cols; k++) destination[k * stride + r - first] = Value(r, k);
            r++;
        }
    }

    /// <summary>Scalar reference: W[r, k] = (n − z) · scale, the integer difference converted exactly, then one float32 product (<see cref="IntFormat.Decode"/>).</summary>
    private float Value(int r, int k)
    {
        int lane = r % StripRows, strip = r / StripRows;
        int nibble = (_nibbles[((long)strip * _pairs + k / 2) * StripRows + lane] >> (4 * (k & 1))) & 15;
        int slot = (strip * _groupsPerRow + k / GroupSize) * StripRows + lane;
        return (float)(nibble - _zeros[slot]) * _scales[slot];
    }

    private void DecodeStrip(int strip, Span<float> destination, int stride)
    {
        ref byte nibbles = ref MemoryMarshal.GetArrayDataReference(_nibbles);
        ref float target = ref MemoryMarshal.GetReference(destination);
        var fifteen = Vector512.Create(15);
        for (int g = 0; g < _groupsPerRow; g++)
        {
            int slot = (strip * _groupsPerRow + g) * StripRows;
            var zero = Avx512F.ConvertToVector512Int32(Vector128.Create(_zeros.AsSpan(slot, StripRows)));
            var scale = Vector512.Create(_scales.AsSpan(slot, StripRows));
            int end = Math.Min(Cols, (g + 1) * GroupSize);
            for (int k = g * GroupSize; k < end; k += 2)
            {
                var codes = Avx512F.ConvertToVector512Int32(Vector128.LoadUnsafe(ref nibbles, (nuint)(((long)strip * _pairs + k / 2) * StripRows)));
                (Vector512.ConvertToSingle((codes & fifteen) - zero) * scale).StoreUnsafe(ref target, (nuint)((long)k * stride));
                if (k + 1 < end)
                    (Vector512.ConvertToSingle((codes >> 4) - zero) * scale).StoreUnsafe(ref target, (nuint)((long)(k + 1) * stride));
            }
        }
    }

    /// <summary>Group size, shape and resident bytes.</summary>
    public override string ToString() => $"INT4 group {GroupSize} packed [{Rows} × {Cols}], {ResidentBytes} bytes";
}
