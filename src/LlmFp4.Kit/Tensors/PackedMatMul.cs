using System.Buffers;
using System.Numerics.Tensors;

namespace LlmFp4.Kit.Tensors;

/// <summary>
/// A weight matrix [<see cref="Rows"/> × <see cref="Cols"/>] held in a packed low-bit form that can write any run of
/// its rows out as float32. <see cref="PackedMatMul"/> multiplies with it without ever decoding it whole.
/// </summary>
public interface IPackedMatrix
{
    int Rows { get; }
    int Cols { get; }

    /// <summary>Bytes the packed form keeps resident (codes, scales, zero points).</summary>
    long ResidentBytes { get; }

    /// <summary>Rows <paramref name="first"/>..first + count − 1 as float32 into <paramref name="destination"/> ([count × Cols], row-major).</summary>
    void DecodeRows(int first, int count, Span<float> destination);
}

/// <summary>Products with packed weights, decoding tiles of weight rows on the fly.</summary>
public static class PackedMatMul
{
    /// <summary>Weight rows per parallel work item for few tokens.</summary>
    public const int DotTileRows = 32;

    /// <summary>
    /// Floats decoded at a time within a tile for few tokens (16 KiB): the decoded rows stay in L1 while every token's dot
    /// products read them, even for wide rows (a 32-row tile of a 4096-wide matrix would be 512 KiB).
    /// </summary>
    public const int DotChunkFloats = 4096;

    /// <summary>Weight rows decoded at a time from <see cref="GemmFromTokens"/> tokens on, each tile multiplied by one GEMM.</summary>
    public const int GemmTileRows = 128;

    /// <summary>From this many tokens on, decoded tiles go through <see cref="Gemm.MatMul"/> instead of dot products.</summary>
    public const int GemmFromTokens = 8;

    /// <summary>
    /// <c>output[t, o] = Σ_k input[t, k] · W[o, k]</c> for t &lt; <paramref name="tokens"/> (a linear layer x·Wᵀ), W never
    /// decoded whole. Below <see cref="GemmFromTokens"/> tokens, tiles of <see cref="DotTileRows"/> rows run in parallel,
    /// each decoded a few rows at a time (<see cref="DotChunkFloats"/>), and each output is a float32 <see cref="TensorPrimitives.Dot(ReadOnlySpan{float}, ReadOnlySpan{float})"/>;
    /// from there on, tiles of <see cref="GemmTileRows"/> rows are decoded one after another (each in parallel slices) and
    /// each multiplied by the active GEMM backend (which parallelises). Every output element has one fixed summation order, so results do not
    /// depend on scheduling. NaN propagates as in a dot product.
    /// </summary>
    public static unsafe void MatMul(IPackedMatrix weight, ReadOnlySpan<float> input, Span<float> output, int tokens)
    {
        ArgumentNullException.ThrowIfNull(weight);
        int rows = weight.Rows, cols = weight.Cols;
        if (tokens < 0 || input.Length < (long)tokens * cols)
            throw new ArgumentException($"PackedMatMul: input has {input.Length} elements, needs {(long)tokens * cols} ({tokens} × {cols}).");
        if (output.Length < (long)tokens * rows)
            throw new ArgumentException($"PackedMatMul: output has {output.Length} elements, needs {(long)tokens * rows} ({tokens} × {rows}).");
        if (tokens == 0) return;
        if (tokens >= GemmFromTokens)
        {
            GemmTiles(weight, input[..(tokens * cols)], output[..(tokens * rows)], tokens);
            return;
        }
        int tiles = (rows + DotTileRows - 1) / DotTileRows;
        int chunkRows = Math.Clamp(DotChunkFloats / cols, 1, DotTileRows);
        fixed (float* inputPointer = input, outputPointer = output)
        {
            nint inputAddress = (nint)inputPointer, outputAddress = (nint)outputPointer;
            void Tile(int tile)
            {
                int tileFirst = tile * DotTileRows, tileEnd = Math.Min(tileFirst + DotTileRows, rows);
                float[] buffer = ArrayPool<float>.Shared.Rent(chunkRows * cols);
                try
                {
                    var x = new ReadOnlySpan<float>((float*)inputAddress, tokens * cols);
                    var y = new Span<float>((float*)outputAddress, tokens * rows);
                    for (int first = tileFirst; first < tileEnd; first += chunkRows)
                    {
                        int count = Math.Min(chunkRows, tileEnd - first);
                        var decoded = buffer.AsSpan(0, count * cols);
                        weight.DecodeRows(first, count, decoded);
                        for (int t = 0; t < tokens; t++)
                        {
                            var row = x.Slice(t * cols, cols);
                            for (int r = 0; r < count; r++)
                                y[t * rows + first + r] = TensorPrimitives.Dot(row, decoded.Slice(r * cols, cols));
                        }
                    }
                }
                finally
                {
                    ArrayPool<float>.Shared.Return(buffer);
                }
            }
            if (tiles == 1) Tile(0);
            else Parallel.For(0, tiles, Tile);
        }
    }

    private static void GemmTiles(IPackedMatrix weight, ReadOnlySpan<float> input, Span<float> output, int tokens)
    {
        int rows = weight.Rows, cols = weight.Cols;
        float[] tile = ArrayPool<float>.Shared.Rent(GemmTileRows * cols);
        float[] product = ArrayPool<float>.Shared.Rent(GemmTileRows * tokens);
        try
        {
            for (int first = 0; first < rows; first += GemmTileRows)
            {
                int count = Math.Min(GemmTileRows, rows - first);
                DecodeParallel(weight, first, count, tile);
                Gemm.MatMul(input, tile, product, tokens, count, cols, transposeB: true);
                for (int t = 0; t < tokens; t++)
                    product.AsSpan(t * count, count).CopyTo(output.Slice(t * rows + first, count));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(tile);
            ArrayPool<float>.Shared.Return(product);
        }
    }

    /// <summary>
    /// Rows first..first + count − 1 into <paramref name="destination"/>; in parallel slices from 64 Ki floats on, because
    /// decoding is compute-bound and a small tile is not worth the scheduling.
    /// </summary>
    private static void DecodeParallel(IPackedMatrix weight, int first, int count, float[] destination)
    {
        const int sliceRows = 16;
        int cols = weight.Cols, slices = (count + sliceRows - 1) / sliceRows;
        if ((long)count * cols < 65_536)
        {
            weight.DecodeRows(first, count, destination.AsSpan(0, count * cols));
            return;
        }
        Parallel.For(0, slices, slice =>
        {
            int start = slice * sliceRows, length = Math.Min(sliceRows, count - start);
            weight.DecodeRows(first + start, length, destination.AsSpan(start * cols, length * cols));
        });
    }

    /// <summary>The whole matrix as float32 [Rows × Cols] (a fresh array).</summary>
    public static float[] Decode(IPackedMatrix weight)
    {
        ArgumentNullException.ThrowIfNull(weight);
        var result = new float[(long)weight.Rows * weight.Cols];
        weight.DecodeRows(0, weight.Rows, result);
        return result;
    }
}
