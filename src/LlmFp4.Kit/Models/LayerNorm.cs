using System.Numerics.Tensors;

namespace LlmFp4.Kit.Models;

/// <summary>Layer normalisation with a weight and a bias, as in BERT (<c>torch.nn.LayerNorm</c>, biased variance).</summary>
public static class LayerNorm
{
    /// <summary>
    /// For every row r of <paramref name="x"/> ([rows × weight.Length]):
    /// <c>destination[r, j] = (x[r, j] − μ_r) / sqrt(σ²_r + eps) · weight[j] + bias[j]</c> with μ_r the row mean and
    /// σ²_r the mean of <c>(x − μ_r)²</c>, in float32 (two passes, the mean corrected once), the reciprocal square root
    /// correctly rounded. NaN or infinity
    /// in a row makes that row NaN. <paramref name="destination"/> may be <paramref name="x"/> itself.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps, Span<float> destination)
    {
        int rows = CheckArguments(x, weight, bias, destination);
        int width = weight.Length;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> row = x.Slice(r * width, width);
            Span<float> output = destination.Slice(r * width, width);
            float mean = TensorPrimitives.Sum(row) / width;
            TensorPrimitives.Subtract(row, mean, output);
            // The float mean is off by up to half an ulp of the row's magnitude; the mean of the centred row recovers
            // that error exactly enough (a corrected two-pass mean), so rows with a large offset keep their digits.
            TensorPrimitives.Subtract(output, TensorPrimitives.Sum(output) / width, output);
            float scale = (float)(1.0 / Math.Sqrt(TensorPrimitives.SumOfSquares(output) / width + eps));
            TensorPrimitives.Multiply(output, scale, output);
            TensorPrimitives.FusedMultiplyAdd(output, weight, bias, output);
        }
    }

    /// <summary>Scalar reference for <see cref="Forward"/>: mean and variance in double.</summary>
    public static void ForwardScalar(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps, Span<float> destination)
    {
        int rows = CheckArguments(x, weight, bias, destination);
        int width = weight.Length;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> row = x.Slice(r * width, width);
            double mean = 0, variance = 0;
            foreach (float value in row) mean += value;
            mean /= width;
            foreach (float value in row) variance += (value - mean) * (value - mean);
            double scale = 1 / Math.Sqrt(variance / width + eps);
            for (int j = 0; j < width; j++)
                destination[r * width + j] = (float)((row[j] - mean) * scale * weight[j] + bias[j]);
        }
    }

    private static int CheckArguments(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> destination)
    {
        if (weight.IsEmpty) throw new ArgumentException("LayerNorm: weight is empty.");
        if (bias.Length != weight.Length)
            throw new ArgumentException($"LayerNorm: bias has {bias.Length} elements but weight has {weight.Length}.");
        if (x.Length % weight.Length != 0)
            throw new ArgumentException($"LayerNorm: input length {x.Length} is not a multiple of the weight length {weight.Length}.");
        if (destination.Length < x.Length)
            throw new ArgumentException($"LayerNorm: destination has {destination.Length} elements, needs {x.Length}.");
        return x.Length / weight.Length;
    }
}
