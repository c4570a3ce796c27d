using System.Numerics.Tensors;

namespace LlmFp4.Kit.Quantization;

/// <summary>
/// Divides input channel j by <see cref="Divisors"/>[j], then applies <see cref="Inner"/>, and leaves the result
/// divided: the consumer's weight columns carry the factors instead (W[:, j]·d_j). This is the activation side of
/// a reparameterisation — SmoothQuant's explicit scale where no norm precedes the layer, and FPQ's folded
/// pre-shifted bias (d_j = 2^-o_j, so dividing is exact).
/// </summary>
public sealed record ColumnScaledQuantizer(float[] Divisors, TensorQuantizer Inner) : TensorQuantizer
{
    /// <inheritdoc />
    /// <exception cref="ArgumentException">A shape that does not match <paramref name="values"/>, or <paramref name="cols"/> ≠ the number of <see cref="Divisors"/>.</exception>
    public override void Apply(Span<float> values, int rows, int cols)
    {
        CheckShape(values, rows, cols, ToString());
        if (cols != Divisors.Length)
            throw new ArgumentException($"{this}: {Divisors.Length} column divisors for {cols} columns.");
        for (int r = 0; r < rows; r++)
        {
            var row = values.Slice(r * cols, cols);
            TensorPrimitives.Divide(row, Divisors, row);
        }
        Inner.Apply(values, rows, cols);
    }

    /// <summary>"columns / d, then" the inner quantizer.</summary>
    public override string ToString() => $"columns / d, then {Inner}";
}
