using System.Numerics.Tensors;

namespace LlmFp4.Kit.Training;

/// <summary>Gradients of <see cref="Models.RmsNorm"/> (<c>y = x · r · w</c>, <c>r = 1/√(mean x² + eps)</c>).</summary>
public static class RmsNormBackward
{
    /// <summary>
    /// For every row of <paramref name="x"/> ([rows × weight.Length]) with its saved <paramref name="inverseRms"/> r
    /// (from <see cref="Models.RmsNorm.Forward(ReadOnlySpan{float}, ReadOnlySpan{float}, float, Span{float}, Span{float})"/>):
    /// with <c>g = dy ⊙ w</c>, writes <c>dx = r·g − x·r³·(g·x)/n</c> to <paramref name="dx"/> and adds
    /// <c>dy ⊙ x · r</c> to <paramref name="dWeight"/>. Float32, rows in order; NaN propagates.
    /// <paramref name="scratch"/> holds at least weight.Length floats.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> inverseRms,
        ReadOnlySpan<float> dy, Span<float> dx, Span<float> dWeight, Span<float> scratch)
    {
        int width = weight.Length, rows = CheckArguments(x, weight, inverseRms, dy, dx, dWeight);
        if (scratch.Length < width) throw new ArgumentException($"RmsNormBackward: scratch has {scratch.Length} elements, needs {width}.");
        Span<float> g = scratch[..width];
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> xr = x.Slice(r * width, width), dyr = dy.Slice(r * width, width);
            Span<float> dxr = dx.Slice(r * width, width);
            float scale = inverseRms[r];
            TensorPrimitives.Multiply(dyr, xr, g);
            TensorPrimitives.MultiplyAdd(g, scale, dWeight, dWeight);
            TensorPrimitives.Multiply(dyr, weight, g);
            float coefficient = scale * scale * scale * TensorPrimitives.Dot(g, xr) / width;
            TensorPrimitives.Multiply(g, scale, dxr);
            TensorPrimitives.MultiplyAdd(xr, -coefficient, dxr, dxr);
        }
    }

    /// <summary>Scalar reference for <see cref="Backward"/>, in double (recomputes r from x).</summary>
    public static void BackwardScalar(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps,
        ReadOnlySpan<float> dy, Span<float> dx, Span<float> dWeight)
    {
        int width = weight.Length, rows = x.Length / width;
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            for (int j = 0; j < width; j++) sum += (double)x[r * width + j] * x[r * width + j];
            double scale = 1 / Math.Sqrt(sum / width + eps), dot = 0;
            for (int j = 0; j < width; j++) dot += (double)dy[r * width + j] * weight[j] * x[r * width + j];
            for (int j = 0; j < width; j++)
            {
                int i = r * width + j;
                dWeight[j] += (float)((double)dy[i] * x[i] * scale);
                dx[i] = (float)(scale * dy[i] * weight[j] - x[i] * scale * scale * scale * dot / width);
            }
        }
    }

    private static int CheckArguments(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> inverseRms,
        ReadOnlySpan<float> dy, Span<float> dx, Span<float> dWeight)
    {
        if (weight.IsEmpty || x.Length % weight.Length != 0)
            throw new ArgumentException($"RmsNormBackward: input length {x.Length} is not a multiple of the weight length {weight.Length}.");
        int rows = x.Length / weight.Length;
        if (inverseRms.Length < rows) throw new ArgumentException($"RmsNormBackward: inverseRms has {inverseRms.Length} values, needs {rows}.");
        if (dy.Length < x.Length || dx.Length < x.Length)
            throw new ArgumentException($"RmsNormBackward: dy ({dy.Length}) and dx ({dx.Length}) need {x.Length} elements.");
        if (dWeight.Length != weight.Length) throw new ArgumentException($"RmsNormBackward: dWeight has {dWeight.Length} elements, needs {weight.Length}.");
        return rows;
    }
}
