using System.Numerics.Tensors;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Calibration;

/// <summary>The direct layer-output error: mean((X·Wᵀ − X̂·Ŵᵀ)²) over a captured input, in token chunks.</summary>
public static class LayerError
{
    private const int ChunkTokens = 1024;

    /// <summary>
    /// Mean squared difference between the full-precision output X·Wᵀ and the quantized layer's output on the same
    /// input: X is first divided column-wise by <paramref name="inputDivisors"/> when given (an input scaling folded
    /// into the preceding norm), then passed through <paramref name="inputQuantizer"/>, then multiplied by
    /// <paramref name="quantizedWeight"/>ᵀ. Products in float32 GEMMs, the sum of squares in double.
    /// </summary>
    public static double Mse(ReadOnlySpan<float> inputs, int tokens, int inFeatures, int outFeatures, ReadOnlySpan<float> weight,
        ReadOnlySpan<float> quantizedWeight, ITensorQuantizer? inputQuantizer, ReadOnlySpan<float> inputDivisors = default)
    {
        if (inputs.Length != tokens * inFeatures) throw new ArgumentException($"LayerError: inputs hold {inputs.Length} values, not {tokens} × {inFeatures}.");
        if (weight.Length != outFeatures * inFeatures || quantizedWeight.Length != weight.Length)
            throw new ArgumentException($"LayerError: weights must be [{outFeatures} × {inFeatures}].");
        int chunk = Math.Min(tokens, ChunkTokens);
        var x = new float[chunk * inFeatures];
        var reference = new float[chunk * outFeatures];
        var output = new float[chunk * outFeatures];
        double total = 0;
        for (int start = 0; start < tokens; start += chunk)
        {
            int rows = Math.Min(chunk, tokens - start);
            var source = inputs.Slice(start * inFeatures, rows * inFeatures);
            var xs = x.AsSpan(0, rows * inFeatures);
            Gemm.MatMul(source, weight, reference, rows, outFeatures, inFeatures, transposeB: true);
            source.CopyTo(xs);
            if (!inputDivisors.IsEmpty)
                for (int r = 0; r < rows; r++)
                    TensorPrimitives.Divide(xs.Slice(r * inFeatures, inFeatures), inputDivisors, xs.Slice(r * inFeatures, inFeatures));
            inputQuantizer?.Apply(xs, rows, inFeatures);
            Gemm.MatMul(xs, quantizedWeight, output, rows, outFeatures, inFeatures, transposeB: true);
            TensorPrimitives.Negate(output.AsSpan(0, rows * outFeatures), output.AsSpan(0, rows * outFeatures));
            total += DoubleSums.SumOfSquaredSums(reference.AsSpan(0, rows * outFeatures), output.AsSpan(0, rows * outFeatures));
        }
        return total / ((double)tokens * outFeatures);
    }
}
