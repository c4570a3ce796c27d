using System.Numerics.Tensors;

namespace LlmFp4.Kit.Training;

/// <summary>Gradients of <see cref="Models.SwiGlu"/> (<c>h = silu(gate) · up</c>).</summary>
public static class SwiGluBackward
{
    private const int Chunk = 256;

    /// <summary>
    /// With <c>s = sigmoid(gate)</c>: <c>dUp = dh · gate · s</c> and <c>dGate = dh · up · (s + gate·s·(1 − s))</c>, in float32
    /// (SIMD exp). NaN propagates. Outputs must not alias the inputs.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, ReadOnlySpan<float> dh, Span<float> dGate, Span<float> dUp)
    {
        CheckArguments(gate, up, dh, dGate, dUp);
        Span<float> sigmoid = stackalloc float[Chunk], silu = stackalloc float[Chunk];
        for (int start = 0; start < gate.Length; start += Chunk)
        {
            int n = Math.Min(Chunk, gate.Length - start);
            ReadOnlySpan<float> g = gate.Slice(start, n), u = up.Slice(start, n), d = dh.Slice(start, n);
            Span<float> s = sigmoid[..n], a = silu[..n], dg = dGate.Slice(start, n), du = dUp.Slice(start, n);
            TensorPrimitives.Sigmoid(g, s);
            TensorPrimitives.Multiply(g, s, a);
            TensorPrimitives.Multiply(d, a, du);
            // silu'(g) = s + silu·(1 − s) = s + silu − silu·s
            TensorPrimitives.Multiply(a, s, dg);
            TensorPrimitives.Subtract(a, dg, dg);
            TensorPrimitives.Add(s, dg, dg);
            TensorPrimitives.Multiply(dg, u, dg);
            TensorPrimitives.Multiply(dg, d, dg);
        }
    }

    /// <summary>Scalar reference for <see cref="Backward"/>, in double.</summary>
    public static void BackwardScalar(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, ReadOnlySpan<float> dh, Span<float> dGate, Span<float> dUp)
    {
        CheckArguments(gate, up, dh, dGate, dUp);
        for (int i = 0; i < gate.Length; i++)
        {
            double g = gate[i], s = 1 / (1 + Math.Exp(-g));
            dUp[i] = (float)(dh[i] * g * s);
            dGate[i] = (float)(dh[i] * up[i] * (s + g * s * (1 - s)));
        }
    }

    private static void CheckArguments(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, ReadOnlySpan<float> dh, Span<float> dGate, Span<float> dUp)
    {
        if (up.Length != gate.Length || dh.Length != gate.Length || dGate.Length < gate.Length || dUp.Length < gate.Length)
            throw new ArgumentException(
                $"SwiGluBackward: gate ({gate.Length}), up ({up.Length}), dh ({dh.Length}) must match and dGate ({dGate.Length}), dUp ({dUp.Length}) hold them.");
    }
}
