using System.Numerics;

namespace LlmFp4.Kit.Models;

/// <summary>
/// The exact (erf) GELU of BERT's feed-forward block (Hugging Face <c>hidden_act = "gelu"</c>,
/// <c>torch.nn.functional.gelu</c> without the tanh approximation): <c>gelu(x) = x · ½ · (1 + erf(x / √2))</c>.
/// </summary>
public static class Gelu
{
    /// <summary>
    /// <c>destination[i] = gelu(x[i])</c> in float32 with <see cref="Erf(ReadOnlySpan{float}, Span{float})"/>.
    /// NaN propagates. <paramref name="destination"/> may be <paramref name="x"/> itself.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> x, Span<float> destination)
    {
        CheckArguments(x, destination, "Gelu");
        // Chunked through a stack buffer so the destination may alias x.
        Span<float> buffer = stackalloc float[256];
        for (int start = 0; start < x.Length; start += buffer.Length)
        {
            int length = Math.Min(buffer.Length, x.Length - start);
            ReadOnlySpan<float> chunk = x.Slice(start, length);
            Span<float> erf = buffer[..length];
            System.Numerics.Tensors.TensorPrimitives.Multiply(chunk, 1 / MathF.Sqrt(2), erf);
            Erf(erf, erf);
            Span<float> output = destination.Slice(start, length);
            System.Numerics.Tensors.TensorPrimitives.Add(erf, 1f, erf);
            System.Numerics.Tensors.TensorPrimitives.Multiply(erf, chunk, output);
            System.Numerics.Tensors.TensorPrimitives.Multiply(output, 0.5f, output);
        }
    }

    /// <summary>Scalar reference for <see cref="Forward"/>: <c>x · ½ · (1 + erf(x / √2))</c> in double with <see cref="ErfReference"/>.</summary>
    public static void ForwardScalar(ReadOnlySpan<float> x, Span<float> destination)
    {
        CheckArguments(x, destination, "Gelu");
        for (int i = 0; i < x.Length; i++)
            destination[i] = (float)(x[i] * 0.5 * (1 + ErfReference(x[i] / Math.Sqrt(2))));
    }

    /// <summary>
    /// <c>destination[i] = erf(x[i])</c> in float32, SIMD, within about one ulp. The algorithm and coefficients are
    /// N. Juffa's faithfully rounded <c>erff</c> (Stack Overflow question 35148198), the one ONNX Runtime's MLAS uses
    /// for its Erf kernel: for |x| ≤ 0.921875, <c>x + x · p(x²)</c>; above, <c>1 − exp(−(t + t · q(t)))</c> with
    /// t = |x| and the sign of x. NaN propagates; ±∞ gives ±1. <paramref name="destination"/> may be <paramref name="x"/>.
    /// </summary>
    public static void Erf(ReadOnlySpan<float> x, Span<float> destination)
    {
        CheckArguments(x, destination, "Erf");
        int i = 0;
        if (Vector.IsHardwareAccelerated)
            for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
                ErfVector(new Vector<float>(x[i..])).CopyTo(destination[i..]);
        for (; i < x.Length; i++)
            destination[i] = ErfVector(new Vector<float>(x[i]))[0];
    }

    // p(s) for the small branch: coefficients from P0 (highest) to P5, where P5 = 2/√π − 1.
    private const float Small0 = -5.99104969e-4f, Small1 = 4.99339588e-3f, Small2 = -2.67667342e-2f,
        Small3 = 1.12818025e-1f, Small4 = -3.76124859e-1f, Small5 = 1.28379151e-1f;

    // q(t) for the large branch, highest degree first.
    private const float Large0 = 1.72948930e-5f, Large1 = -3.83208680e-4f, Large2 = 3.88393435e-3f, Large3 = -2.42545605e-2f,
        Large4 = 1.06777847e-1f, Large5 = 6.34846687e-1f, Large6 = 1.28717512e-1f;

    private const float SplitBoundary = 0.921875f;

    // erf rounds to 1 in float32 from about 3.92 on; clamping there keeps the polynomial's powers finite.
    private const float Saturation = 4f;

    private static Vector<float> ErfVector(Vector<float> x)
    {
        Vector<float> t = Vector.Min(Vector.Abs(x), new Vector<float>(Saturation)), s = t * t;

        Vector<float> small = Vector.FusedMultiplyAdd(new Vector<float>(Small0), s, new Vector<float>(Small1));
        small = Vector.FusedMultiplyAdd(small, s, new Vector<float>(Small2));
        small = Vector.FusedMultiplyAdd(small, s, new Vector<float>(Small3));
        small = Vector.FusedMultiplyAdd(small, s, new Vector<float>(Small4));
        small = Vector.FusedMultiplyAdd(small, s, new Vector<float>(Small5));
        small = Vector.FusedMultiplyAdd(small, t, t);

        Vector<float> large = Vector.FusedMultiplyAdd(new Vector<float>(Large0), t, new Vector<float>(Large1));
        large = Vector.FusedMultiplyAdd(large, t, new Vector<float>(Large2));
        large = Vector.FusedMultiplyAdd(large, t, new Vector<float>(Large3));
        large = Vector.FusedMultiplyAdd(large, t, new Vector<float>(Large4));
        large = Vector.FusedMultiplyAdd(large, t, new Vector<float>(Large5));
        large = Vector.FusedMultiplyAdd(large, t, new Vector<float>(Large6));
        large = Vector.FusedMultiplyAdd(large, t, t);
        large = Vector<float>.One - Vector.Exp(-large);

        Vector<float> magnitude = Vector.ConditionalSelect(Vector.GreaterThan(t, new Vector<float>(SplitBoundary)), large, small);
        Vector<float> result = Vector.CopySign(magnitude, x);
        return Vector.ConditionalSelect(Vector.Equals(x, x), result, x); // NaN in, NaN out
    }

    /// <summary>
    /// erf in double to about 1e-13, as plainly as it can be written: the Maclaurin series
    /// <c>erf(x) = 2/√π · Σ (−1)ⁿ x²ⁿ⁺¹ / (n! (2n+1))</c> for |x| &lt; 3 and, above, the continued fraction
    /// <c>erfc(x) = e^(−x²) / (√π · (x + ½/(x + 1/(x + (3/2)/(x + …)))))</c> (Abramowitz and Stegun 7.1.5 and 7.1.14).
    /// </summary>
    public static double ErfReference(double x)
    {
        if (double.IsNaN(x)) return x;
        double a = Math.Abs(x), result;
        if (a < 3)
        {
            double sum = 0, power = a; // power = (−1)ⁿ a²ⁿ⁺¹ / n!
            for (int n = 0; ; n++)
            {
                double term = power / (2 * n + 1);
                sum += term;
                if (Math.Abs(term) <= 1e-17 * sum) break;
                power *= -a * a / (n + 1);
            }
            result = 2 / Math.Sqrt(Math.PI) * sum;
        }
        else if (a < 10)
        {
            double fraction = a;
            for (int n = 80; n >= 1; n--) fraction = a + n / 2.0 / fraction;
            result = 1 - Math.Exp(-a * a) / (Math.Sqrt(Math.PI) * fraction);
        }
        else
            result = 1; // erfc(10) ≈ 2e-45
        return Math.CopySign(result, x);
    }

    private static void CheckArguments(ReadOnlySpan<float> x, Span<float> destination, string kernel)
    {
        if (destination.Length < x.Length)
            throw new ArgumentException($"{kernel}: destination has {destination.Length} elements, needs {x.Length}.");
    }
}
