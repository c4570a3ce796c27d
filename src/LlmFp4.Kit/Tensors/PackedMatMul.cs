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
    /// <summary>Weight rows decoded at a time: 16 rows of 768 floats stay in L1/L2 while every token reuses them.</summary>
    public const int TileRows = 16;

    /// <summary>
    /// <c>output[t, o] = Σ_k input[t, k] · W[o, k]</c> for t &lt; <paramref name="tokens"/> (a linear layer x·Wᵀ), W decoded
    /// <see cref="TileRows"/> rows at a time into a pooled buffer and each output a float32 <see cref="TensorPrimitives.Dot(ReadOnlySpan{float}, ReadOnlySpan{float})"/>.
    /// Tiles run in parallel; each output element is written by one tile with a fixed summation order, so results do
    /// not depend on scheduling. NaN propagates as in a dot product.
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
        int tiles = (rows + TileRows - 1) / TileRows;
        fixed (float* inputPointer = input, outputPointer = output)
        {
            nint inputAddress = (nint)inputPointer, outputAddress = (nint)outputPointer;
            void Tile(int tile)
            {
                int first = tile * TileRows, count = Math.Min(TileRows, rows - first);
                float[] buffer = ArrayPool<float>.Shared.Rent(TileRows * cols);
                try
                {
                    var decoded = buffer.AsSpan(0, count * cols);
                    weight.DecodeRows(first, count, decoded);
                    var x = new ReadOnlySpan<float>((float*)inputAddress, tokens * cols);
                    var y = new Span<float>((float*)outputAddress, tokens * rows);
                    for (int t = 0; t < tokens; t++)
                    {
                        var row = x.Slice(t * cols, cols);
                        for (int r = 0; r < count; r++)
                            y[t * rows + first + r] = TensorPrimitives.Dot(row, decoded.Slice(r * cols, cols));
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

    /// <summary>The whole matrix as float32 [Rows × Cols] (a fresh array).</summary>
    public static float[] Decode(IPackedMatrix weight)
    {
        ArgumentNullException.ThrowIfNull(weight);
        var result = new float[(long)weight.Rows * weight.Cols];
        weight.DecodeRows(0, weight.Rows, result);
        return result;
    }
}
