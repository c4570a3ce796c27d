using System.Numerics.Tensors;

namespace LlmFp4.Kit.Models;

/// <summary>Softmax over one vector, in float32 with max subtraction.</summary>
public static class Softmax
{
    private const int Chunk = 256;

    /// <summary>
    /// <c>destination[i] = exp(x[i] − max x) / Σ_j exp(x[j] − max x)</c>. A NaN anywhere gives all NaN;
    /// an all −∞ input gives NaN (0/0), as PyTorch. <paramref name="destination"/> may be <paramref name="x"/>.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> x, Span<float> destination)
    {
        CheckDestination(x, destination, "Softmax");
        if (x.IsEmpty) return;
        float max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, destination);
        Span<float> output = destination[..x.Length];
        TensorPrimitives.Exp(output, output);
        TensorPrimitives.Divide(output, TensorPrimitives.Sum(output), output);
    }

    /// <summary>Scalar reference for <see cref="Forward"/>: exp and sum in double.</summary>
    public static void ForwardScalar(ReadOnlySpan<float> x, Span<float> destination)
    {
        CheckDestination(x, destination, "Softmax");
        double max = double.NegativeInfinity;
        foreach (float v in x) max = float.IsNaN(v) ? double.NaN : Math.Max(max, v);
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += Math.Exp(x[i] - max);
        for (int i = 0; i < x.Length; i++) destination[i] = (float)(Math.Exp(x[i] - max) / sum);
    }

    /// <summary>
    /// <c>log Σ_i exp(x[i])</c>, computed as <c>max + log Σ exp(x − max)</c> so it never overflows. NaN in,
    /// NaN out; an empty input gives −∞. Summation order is fixed (chunks of 256), so results are reproducible.
    /// </summary>
    public static float LogSumExp(ReadOnlySpan<float> x)
    {
        if (x.IsEmpty) return float.NegativeInfinity;
        float max = TensorPrimitives.Max(x);
        if (float.IsNaN(max)) return float.NaN;
        if (float.IsInfinity(max)) return max;
        Span<float> buffer = stackalloc float[Chunk];
        float sum = 0;
        for (int start = 0; start < x.Length; start += Chunk)
        {
            int length = Math.Min(Chunk, x.Length - start);
            Span<float> chunk = buffer[..length];
            TensorPrimitives.Subtract(x.Slice(start, length), max, chunk);
            TensorPrimitives.Exp(chunk, chunk);
            sum += TensorPrimitives.Sum(chunk);
        }
        return max + MathF.Log(sum);
    }

    /// <summary>Scalar reference for <see cref="LogSumExp"/>, in double.</summary>
    public static float LogSumExpScalar(ReadOnlySpan<float> x)
    {
        if (x.IsEmpty) return float.NegativeInfinity;
        double max = double.NegativeInfinity;
        foreach (float v in x)
        {
            if (float.IsNaN(v)) return float.NaN;
            max = Math.Max(max, v);
        }
        if (double.IsInfinity(max)) return (float)max;
        double sum = 0;
        foreach (float v in x) sum += Math.Exp(v - max);
        return (float)(max + Math.Log(sum));
    }

    internal static void CheckDestination(ReadOnlySpan<float> x, Span<float> destination, string kernel)
    {
        if (destination.Length < x.Length)
            throw new ArgumentException($"{kernel}: destination has {destination.Length} elements, needs {x.Length}.");
    }
}

/// <summary>Log-softmax over one vector.</summary>
public static class LogSoftmax
{
    /// <summary>
    /// <c>destination[i] = x[i] − log Σ_j exp(x[j])</c> (see <see cref="Softmax.LogSumExp"/>). NaN anywhere gives
    /// all NaN. <paramref name="destination"/> may be <paramref name="x"/>.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> x, Span<float> destination)
    {
        Softmax.CheckDestination(x, destination, "LogSoftmax");
        TensorPrimitives.Subtract(x, Softmax.LogSumExp(x), destination);
    }

    /// <summary>Scalar reference for <see cref="Forward"/>, in double.</summary>
    public static void ForwardScalar(ReadOnlySpan<float> x, Span<float> destination)
    {
        Softmax.CheckDestination(x, destination, "LogSoftmax");
        double logSum = Softmax.LogSumExpScalar(x);
        for (int i = 0; i < x.Length; i++) destination[i] = (float)(x[i] - logSum);
    }
}
