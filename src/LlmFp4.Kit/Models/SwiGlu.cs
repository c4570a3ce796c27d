using System.Numerics.Tensors;

namespace LlmFp4.Kit.Models;

/// <summary>The gated activation of the LLaMA MLP: <c>silu(gate) · up</c>.</summary>
public static class SwiGlu
{
    /// <summary>
    /// <c>destination[i] = gate[i] · sigmoid(gate[i]) · up[i]</c>, in float32 (SIMD exp, within a few ulp of
    /// the scalar reference). NaN propagates. <paramref name="destination"/> may alias either input.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> destination)
    {
        CheckArguments(gate, up, destination);
        // Chunked through a stack buffer so the destination may alias gate or up.
        Span<float> buffer = stackalloc float[256];
        for (int start = 0; start < gate.Length; start += buffer.Length)
        {
            int length = Math.Min(buffer.Length, gate.Length - start);
            Span<float> silu = buffer[..length];
            ReadOnlySpan<float> g = gate.Slice(start, length);
            TensorPrimitives.Sigmoid(g, silu);
            TensorPrimitives.Multiply(silu, g, silu);
            TensorPrimitives.Multiply(silu, up.Slice(start, length), destination.Slice(start, length));
        }
    }

    /// <summary>Scalar reference for <see cref="Forward"/>, in double.</summary>
    public static void ForwardScalar(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> destination)
    {
        CheckArguments(gate, up, destination);
        for (int i = 0; i < gate.Length; i++)
        {
            double g = gate[i];
            destination[i] = (float)(g / (1 + Math.Exp(-g)) * up[i]);
        }
    }

    private static void CheckArguments(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> destination)
    {
        if (gate.Length != up.Length) throw new ArgumentException($"SwiGlu: gate has {gate.Length} elements but up has {up.Length}.");
        if (destination.Length < gate.Length) throw new ArgumentException($"SwiGlu: destination has {destination.Length} elements, needs {gate.Length}.");
    }
}
