using System.Numerics.Tensors;

namespace LlmFp4.Kit.Models;

/// <summary>Root-mean-square layer norm as in LLaMA (Hugging Face <c>LlamaRMSNorm</c>).</summary>
public static class RmsNorm
{
    /// <summary>
    /// For every row r of <paramref name="x"/> ([rows × weight.Length]):
    /// <c>destination[r, j] = (x[r, j] · rsqrt(mean_j x[r, j]² + eps)) · weight[j]</c>, in float32 as PyTorch does,
    /// with the reciprocal square root correctly rounded. NaN or infinity in a row makes that row NaN.
    /// <paramref name="destination"/> may be <paramref name="x"/> itself.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> destination) =>
        Forward(x, weight, eps, destination, Span<float>.Empty);

    /// <summary>
    /// As <see cref="Forward(ReadOnlySpan{float}, ReadOnlySpan{float}, float, Span{float})"/>, also writing each row's
    /// <c>rsqrt(mean x² + eps)</c> to <paramref name="inverseRms"/> (one per row; the backward pass needs it).
    /// Pass an empty span to skip it.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> destination, Span<float> inverseRms)
    {
        int rows = CheckArguments(x, weight, destination, inverseRms);
        int width = weight.Length;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> row = x.Slice(r * width, width);
            Span<float> output = destination.Slice(r * width, width);
            float scale = InverseRms(TensorPrimitives.SumOfSquares(row) / width, eps);
            if (!inverseRms.IsEmpty) inverseRms[r] = scale;
            TensorPrimitives.Multiply(row, scale, output);
            TensorPrimitives.Multiply(output, weight, output);
        }
    }

    /// <summary>Scalar reference for <see cref="Forward(ReadOnlySpan{float}, ReadOnlySpan{float}, float, Span{float})"/>: sum of squares in double.</summary>
    public static void ForwardScalar(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> destination)
    {
        int rows = CheckArguments(x, weight, destination, Span<float>.Empty);
        int width = weight.Length;
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            for (int j = 0; j < width; j++) sum += (double)x[r * width + j] * x[r * width + j];
            float scale = InverseRms((float)(sum / width), eps);
            for (int j = 0; j < width; j++) destination[r * width + j] = x[r * width + j] * scale * weight[j];
        }
    }

    private static float InverseRms(float meanSquare, float eps) => (float)(1.0 / Math.Sqrt(meanSquare + eps));

    private static int CheckArguments(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> destination, Span<float> inverseRms)
    {
        if (weight.IsEmpty) throw new ArgumentException("RmsNorm: weight is empty.");
        if (x.Length % weight.Length != 0)
            throw new ArgumentException($"RmsNorm: input length {x.Length} is not a multiple of the weight length {weight.Length}.");
        if (destination.Length < x.Length)
            throw new ArgumentException($"RmsNorm: destination has {destination.Length} elements, needs {x.Length}.");
        int rows = x.Length / weight.Length;
        if (!inverseRms.IsEmpty && inverseRms.Length < rows)
            throw new ArgumentException($"RmsNorm: inverseRms has {inverseRms.Length} elements, needs {rows}.");
        return rows;
    }
}
