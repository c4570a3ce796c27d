using System.Buffers;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Quantization;

/// <summary>
/// FP6 E3M2 weights (bias 3, max 28) with one float32 scale per output row, stored in the 4+2 bit-plane layout of
/// <see cref="PackedCodes"/>: 0.75 byte per weight plus 4 bytes per row. Rows are padded to whole blocks of 32 codes with
/// code 0 (+0), so any shape packs; the padding is never read back.
/// </summary>
public sealed class PackedFp6Matrix : IPackedMatrix
{
    private readonly byte[] _fourBit;
    private readonly byte[] _twoBit;
    private readonly float[] _scales;
    private readonly int _blocksPerRow;

    private PackedFp6Matrix(int rows, int cols, byte[] fourBit, byte[] twoBit, float[] scales)
    {
        Rows = rows;
        Cols = cols;
        _blocksPerRow = PackedWeights.BlocksPerRow(cols);
        (_fourBit, _twoBit, _scales) = (fourBit, twoBit, scales);
    }

    /// <inheritdoc />
    public int Rows { get; }
    /// <inheritdoc />
    public int Cols { get; }

    /// <summary>The per-row scales (weight = scale · E3M2 value).</summary>
    public ReadOnlySpan<float> Scales => _scales;

    /// <inheritdoc />
    public long ResidentBytes => _fourBit.Length + _twoBit.Length + 4L * _scales.Length;

    /// <summary>
    /// FP6 weights the FP6-LLM way: per row scale = max|row| / 28, every weight rounded to the nearest E3M2 value of
    /// w / scale (<see cref="FakeQuant.Quantize(ReadOnlySpan{float}, FpFormat, float, Span{float})"/>, ties to even). A row
    /// of zeros gets scale 0. NaN or infinite weights are rejected.
    /// </summary>
    public static PackedFp6Matrix Quantize(ReadOnlySpan<float> weight, int rows, int cols)
    {
        PackedWeights.CheckShape(weight.Length, rows, cols);
        var scales = new float[rows];
        var quantized = new float[weight.Length];
        for (int r = 0; r < rows; r++)
        {
            var row = weight.Slice(r * cols, cols);
            scales[r] = System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(row) is var max && float.IsFinite(max)
                ? MathF.Abs(max) / (float)FpFormat.E3M2.MaxValue
                : throw new ArgumentException($"FP6 packing: row {r} has a NaN or infinite weight.");
            FakeQuant.Quantize(row, FpFormat.E3M2, scales[r], quantized.AsSpan(r * cols, cols));
        }
        return FromQuantized(quantized, rows, cols, scales);
    }

    /// <summary>
    /// Packs weights already fake-quantized on an E3M2 per-row grid (<paramref name="grid"/> from MinMax or any
    /// calibrator; any integer exponent bias, which is folded into the stored scale exactly). Throws
    /// <see cref="InvalidDataException"/> if a weight is not scale · (an E3M2 value).
    /// </summary>
    public static PackedFp6Matrix FromQuantized(ReadOnlySpan<float> quantized, int rows, int cols, FpQuantizer grid)
    {
        ArgumentNullException.ThrowIfNull(grid);
        var f = grid.Format;
        if (f.ExponentBits != 3 || f.MantissaBits != 2 || !f.HasIntegerBias || f.Specials != SpecialValues.AllFinite || grid.Granularity != Granularity.PerRow)
            throw new ArgumentException($"FP6 packing needs an all-finite E3M2 grid with an integer bias and one scale per row, got {grid}.");
        // value with bias b = (value with bias 3) · 2^(3 − b), so the bias-3 codes take scale · 2^(3 − b).
        int shift = 3 - (int)f.Bias;
        return FromQuantized(quantized, rows, cols, [.. grid.Scales.Select(s => MathF.ScaleB(s, shift))]);
    }

    /// <summary>Packs quantized weights given the bias-3 scale of each row; every weight must be scale · (an E3M2 value).</summary>
    public static PackedFp6Matrix FromQuantized(ReadOnlySpan<float> quantized, int rows, int cols, ReadOnlySpan<float> scales)
    {
        PackedWeights.CheckShape(quantized.Length, rows, cols);
        if (scales.Length != rows) throw new ArgumentException($"FP6 packing: {scales.Length} scales for {rows} rows.");
        var codes = new byte[quantized.Length];
        for (int r = 0; r < rows; r++)
        {
            float scale = scales[r];
            for (int j = 0; j < cols; j++)
            {
                float q = quantized[r * cols + j];
                int code = scale > 0 && float.IsFinite(q) ? FpFormat.E3M2.Encode(q / scale) : q == 0 ? 0 : -1;
                if (code < 0 || PackedCodes.Fp6Value(code) * scale != q)
                    throw new InvalidDataException($"FP6 packing: weight [{r}, {j}] = {q} is not on the E3M2 grid of scale {scale}.");
                codes[r * cols + j] = (byte)code;
            }
        }
        return FromCodes(codes, rows, cols, scales);
    }

    /// <summary>Packs 6-bit codes ([rows × cols], each 0..63) with one scale per row.</summary>
    public static PackedFp6Matrix FromCodes(ReadOnlySpan<byte> codes, int rows, int cols, ReadOnlySpan<float> scales)
    {
        PackedWeights.CheckShape(codes.Length, rows, cols);
        if (scales.Length != rows) throw new ArgumentException($"FP6 packing: {scales.Length} scales for {rows} rows.");
        int blocks = PackedWeights.BlocksPerRow(cols);
        var fourBit = new byte[checked(rows * blocks * PackedCodes.FourBitBlockBytes)];
        var twoBit = new byte[rows * blocks * PackedCodes.TwoBitBlockBytes];
        Span<byte> block = stackalloc byte[PackedCodes.BlockCodes];
        for (int r = 0; r < rows; r++)
            for (int b = 0; b < blocks; b++)
            {
                block.Clear();
                int start = b * PackedCodes.BlockCodes, length = Math.Min(PackedCodes.BlockCodes, cols - start);
                codes.Slice(r * cols + start, length).CopyTo(block);
                int index = r * blocks + b;
                PackedCodes.PackFp6Block(block, fourBit.AsSpan(index * PackedCodes.FourBitBlockBytes, PackedCodes.FourBitBlockBytes),
                    twoBit.AsSpan(index * PackedCodes.TwoBitBlockBytes, PackedCodes.TwoBitBlockBytes));
            }
        return new PackedFp6Matrix(rows, cols, fourBit, twoBit, scales.ToArray());
    }

    /// <summary>The stored codes [Rows × Cols], unpacked by the scalar reference.</summary>
    public byte[] Codes()
    {
        var codes = new byte[(long)Rows * Cols];
        Span<byte> block = stackalloc byte[PackedCodes.BlockCodes];
        for (int r = 0; r < Rows; r++)
            for (int b = 0; b < _blocksPerRow; b++)
            {
                PackedCodes.UnpackFp6Block(FourBit(r, b), TwoBit(r, b), block);
                int start = b * PackedCodes.BlockCodes, length = Math.Min(PackedCodes.BlockCodes, Cols - start);
                block[..length].CopyTo(codes.AsSpan(r * Cols + start, length));
            }
        return codes;
    }

    /// <inheritdoc />
    public void DecodeRows(int first, int count, Span<float> destination) => DecodeRows(first, count, destination, vectorized: true);

    /// <summary>As <see cref="DecodeRows(int, int, Span{float})"/>, forcing the scalar reference when <paramref name="vectorized"/> is false.</summary>
    public void DecodeRows(int first, int count, Span<float> destination, bool vectorized)
    {
        PackedWeights.CheckRows(first, count, destination.Length, Rows, Cols);
        int full = Cols / PackedCodes.BlockCodes, rest = Cols - full * PackedCodes.BlockCodes;
        Span<float> tail = stackalloc float[PackedCodes.BlockCodes];
        for (int r = first; r < first + count; r++)
        {
            var row = destination.Slice((r - first) * Cols, Cols);
            int block = r * _blocksPerRow;
            Decode(block, full, _scales[r], row[..(full * PackedCodes.BlockCodes)], vectorized);
            if (rest == 0) continue;
            Decode(block + full, 1, _scales[r], tail, vectorized);
            tail[..rest].CopyTo(row[(full * PackedCodes.BlockCodes)..]);
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// FP6 rows are stored one after another, so rows are decoded 16 at a time (a block that stays in L1) and transposed
    /// into place.
    /// </remarks>
    public void DecodeColumns(int first, int count, Span<float> destination, int stride)
    {
        PackedWeights.CheckColumns(first, count, destination.Length, stride, Rows, Cols);
        const int strip = 16;
        float[] rows = ArrayPool<float>.Shared.Rent(strip * Cols);
        try
        {
            for (int r = 0; r < count; r += strip)
            {
                int length = Math.Min(strip, count - r);
                DecodeRows(first + r, length, rows);
                PackedWeights.Transpose(rows.AsSpan(0, length * Cols), length, Cols, destination[r..], stride);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rows);
        }
    }

    private void Decode(int block, int blocks, float scale, Span<float> destination, bool vectorized)
    {
        var fourBit = _fourBit.AsSpan(block * PackedCodes.FourBitBlockBytes, blocks * PackedCodes.FourBitBlockBytes);
        var twoBit = _twoBit.AsSpan(block * PackedCodes.TwoBitBlockBytes, blocks * PackedCodes.TwoBitBlockBytes);
        if (vectorized) PackedCodes.DecodeFp6Blocks(fourBit, twoBit, scale, destination);
        else PackedCodes.DecodeFp6BlocksScalar(fourBit, twoBit, scale, destination);
    }

    /// <summary>Shape and resident bytes.</summary>
    public override string ToString() => $"FP6 E3M2 4+2 packed [{Rows} × {Cols}], {ResidentBytes} bytes";

    private ReadOnlySpan<byte> FourBit(int row, int block) =>
        _fourBit.AsSpan((row * _blocksPerRow + block) * PackedCodes.FourBitBlockBytes, PackedCodes.FourBitBlockBytes);

    private ReadOnlySpan<byte> TwoBit(int row, int block) =>
        _twoBit.AsSpan((row * _blocksPerRow + block) * PackedCodes.TwoBitBlockBytes, PackedCodes.TwoBitBlockBytes);
}
