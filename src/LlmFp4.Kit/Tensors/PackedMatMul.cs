using System.Buffers;

namespace LlmFp4.Kit.Tensors;

/// <summary>
/// A weight matrix [<see cref="Rows"/> × <see cref="Cols"/>] held in a packed low-bit form that can write any run of
/// its rows out as float32. <see cref="PackedMatMul"/> multiplies with it without ever decoding it whole.
/// </summary>
public interface IPackedMatrix
{
    /// <summary>Rows of the matrix (output features of a weight [out × in]).</summary>
    int Rows { get; }
    /// <summary>Columns of the matrix (input features of a weight [out × in]).</summary>
    int Cols { get; }

    /// <summary>Bytes the packed form keeps resident (codes, scales, zero points).</summary>
    long ResidentBytes { get; }

    /// <summary>Rows <paramref name="first"/>..first + count − 1 as float32 into <paramref name="destination"/> ([count × Cols], row-major).</summary>
    void DecodeRows(int first, int count, Span<float> destination);

    /// <summary>
    /// Rows <paramref name="first"/>..first + count − 1 as float32, transposed: W[first + r, k] into
    /// <paramref name="destination"/>[k · <paramref name="stride"/> + r] (Cols rows of at least count floats). A product
    /// reads a tile in this layout without transposing it (<see cref="PackedMatMul"/>).
    /// </summary>
    void DecodeColumns(int first, int count, Span<float> destination, int stride);

    /// <summary>The weight's input-major 4-bit strips when it is stored that way (one token is then multiplied in registers, <see cref="ManagedGemm.RowTimesInt4Columns"/>), else null.</summary>
    internal Int4Columns? Int4Columns => null;
}

/// <summary>Products with packed weights, decoding tiles of weight rows on the fly.</summary>
public static class PackedMatMul
{
    /// <summary>Weight rows per tile below <see cref="GemmFromTokens"/> tokens: one column group of the GEMM's matrix-vector kernel.</summary>
    public const int FewTokenTileRows = 128;

    /// <summary>Weight rows decoded at a time from <see cref="GemmFromTokens"/> tokens on, each tile multiplied by one GEMM.</summary>
    public const int GemmTileRows = 128;

    /// <summary>From this many tokens on, tiles are decoded one after another (each in parallel slices) and each GEMM parallelises.</summary>
    public const int GemmFromTokens = 8;

    /// <summary>
    /// <c>output[t, o] = Σ_k input[t, k] · W[o, k]</c> for t &lt; <paramref name="tokens"/> (a linear layer x·Wᵀ), W never
    /// decoded whole: each tile of rows is decoded as columns ([in × rows], <see cref="IPackedMatrix.DecodeColumns"/>, the
    /// layout the product reads without transposing) and multiplied by <see cref="Gemm.MatMul"/>, so every output element has the
    /// active backend's summation order and equals the float32 product with the decoded matrix bit for bit (with the
    /// managed kernel, on any machine). Below <see cref="GemmFromTokens"/> tokens (decoding) tiles of
    /// <see cref="FewTokenTileRows"/> rows are decoded and multiplied in parallel; from there on tiles of
    /// <see cref="GemmTileRows"/> rows are decoded one after another (each in parallel slices) and each GEMM parallelises.
    /// One token with 4-bit strips and the managed Vector512 kernel skips the tiles: the codes are decoded in registers in
    /// the same order (<see cref="ManagedGemm.RowTimesInt4Columns"/>). NaN propagates as in a dot product.
    /// </summary>
    public static void MatMul(IPackedMatrix weight, ReadOnlySpan<float> input, Span<float> output, int tokens)
    {
        ArgumentNullException.ThrowIfNull(weight);
        int rows = weight.Rows, cols = weight.Cols;
        if (tokens < 0 || input.Length < (long)tokens * cols)
            throw new ArgumentException($"PackedMatMul: input has {input.Length} elements, needs {(long)tokens * cols} ({tokens} × {cols}).");
        if (output.Length < (long)tokens * rows)
            throw new ArgumentException($"PackedMatMul: output has {output.Length} elements, needs {(long)tokens * rows} ({tokens} × {rows}).");
        if (tokens == 0) return;
        if (tokens == 1 && weight.Int4Columns is { } columns && Gemm.Backend is ManagedGemm { MultipliesInputMajorWeights: true } wide)
        {
            wide.RowTimesInt4Columns(input[..cols], columns, output[..rows]);
            return;
        }
        if (tokens >= GemmFromTokens)
        {
            GemmTiles(weight, input[..(tokens * cols)], output[..(tokens * rows)], tokens);
            return;
        }
        FewTokenTiles(weight, input[..(tokens * cols)], output[..(tokens * rows)], tokens);
    }

    private static unsafe void FewTokenTiles(IPackedMatrix weight, ReadOnlySpan<float> input, Span<float> output, int tokens)
    {
        int rows = weight.Rows, cols = weight.Cols;
        int tiles = (rows + FewTokenTileRows - 1) / FewTokenTileRows;
        fixed (float* inputPointer = input, outputPointer = output)
        {
            nint inputAddress = (nint)inputPointer, outputAddress = (nint)outputPointer;
            void Tile(int tile)
            {
                int first = tile * FewTokenTileRows, count = Math.Min(FewTokenTileRows, rows - first);
                float[] decoded = ArrayPool<float>.Shared.Rent(count * cols), product = ArrayPool<float>.Shared.Rent(tokens * count);
                try
                {
                    weight.DecodeColumns(first, count, decoded.AsSpan(0, count * cols), count);
                    Gemm.MatMul(new ReadOnlySpan<float>((float*)inputAddress, tokens * cols), decoded.AsSpan(0, count * cols), product,
                        tokens, count, cols);
                    var y = new Span<float>((float*)outputAddress, tokens * rows);
                    for (int t = 0; t < tokens; t++)
                        product.AsSpan(t * count, count).CopyTo(y.Slice(t * rows + first, count));
                }
                finally
                {
                    ArrayPool<float>.Shared.Return(decoded);
                    ArrayPool<float>.Shared.Return(product);
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
                Gemm.MatMul(input, tile, product, tokens, count, cols);
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
    /// Rows first..first + count − 1 into <paramref name="destination"/> as columns ([Cols × count]); in parallel slices
    /// from 64 Ki floats on, because decoding is compute-bound and a small tile is not worth the scheduling.
    /// </summary>
    private static void DecodeParallel(IPackedMatrix weight, int first, int count, float[] destination)
    {
        const int sliceRows = 16;
        int cols = weight.Cols, slices = (count + sliceRows - 1) / sliceRows;
        if ((long)count * cols < 65_536)
        {
            weight.DecodeColumns(first, count, destination.AsSpan(0, count * cols), count);
            return;
        }
        Parallel.For(0, slices, slice =>
        {
            int start = slice * sliceRows, length = Math.Min(sliceRows, count - start);
            weight.DecodeColumns(first + start, length, destination.AsSpan(start, count * cols - start), count);
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
