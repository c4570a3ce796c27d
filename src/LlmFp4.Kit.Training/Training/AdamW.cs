using System.Numerics;

namespace LlmFp4.Kit.Training;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter) in the form of PyTorch's <c>torch.optim.AdamW</c>: decoupled weight decay
/// <c>p ← p·(1 − lr·wd)</c>, then <c>p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)</c> with
/// <c>m ← β1·m + (1 − β1)·g</c> and <c>v ← β2·v + (1 − β2)·g²</c>.
/// </summary>
public static class AdamW
{
    /// <summary>Per-step constants of one update, shared by every tensor in the step.</summary>
    public readonly record struct StepConstants(float LearningRate, float Beta1, float Beta2, float Epsilon, float WeightDecay,
        float StepSize, float InverseSqrtBiasCorrection2)
    {
        /// <summary>Constants for update number <paramref name="step"/> (1 for the first update).</summary>
        public static StepConstants For(int step, double learningRate, double beta1, double beta2, double epsilon, double weightDecay)
        {
            if (step < 1) throw new ArgumentOutOfRangeException(nameof(step), $"AdamW: step numbers start at 1, got {step}.");
            double biasCorrection1 = 1 - Math.Pow(beta1, step);
            double biasCorrection2 = 1 - Math.Pow(beta2, step);
            return new((float)learningRate, (float)beta1, (float)beta2, (float)epsilon, (float)weightDecay,
                (float)(learningRate / biasCorrection1), (float)(1 / Math.Sqrt(biasCorrection2)));
        }

        /// <summary>The same step without weight decay (for norm weights).</summary>
        public StepConstants WithoutDecay => this with { WeightDecay = 0 };
    }

    /// <summary>
    /// Updates <paramref name="parameters"/> and the moments <paramref name="m"/>, <paramref name="v"/> in place from
    /// <paramref name="gradients"/>. Every operation is a separately rounded float32 operation (no fused
    /// multiply-add), in the same order as <see cref="StepScalar"/>, so both give identical bits. NaN in a
    /// gradient makes that parameter NaN.
    /// </summary>
    public static void Step(Span<float> parameters, ReadOnlySpan<float> gradients, Span<float> m, Span<float> v, in StepConstants c)
    {
        CheckLengths(parameters, gradients, m, v);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int width = Vector<float>.Count;
            var beta1 = new Vector<float>(c.Beta1);
            var oneMinusBeta1 = new Vector<float>(1 - c.Beta1);
            var beta2 = new Vector<float>(c.Beta2);
            var oneMinusBeta2 = new Vector<float>(1 - c.Beta2);
            var decay = new Vector<float>(1 - c.LearningRate * c.WeightDecay);
            var stepSize = new Vector<float>(c.StepSize);
            var inverseSqrtBc2 = new Vector<float>(c.InverseSqrtBiasCorrection2);
            var epsilon = new Vector<float>(c.Epsilon);
            for (; i <= parameters.Length - width; i += width)
            {
                var g = new Vector<float>(gradients[i..]);
                var mi = beta1 * new Vector<float>(m[i..]) + oneMinusBeta1 * g;
                var vi = beta2 * new Vector<float>(v[i..]) + oneMinusBeta2 * (g * g);
                var denominator = Vector.SquareRoot(vi) * inverseSqrtBc2 + epsilon;
                var p = new Vector<float>(parameters[i..]) * decay;
                p -= stepSize * (mi / denominator);
                mi.CopyTo(m[i..]);
                vi.CopyTo(v[i..]);
                p.CopyTo(parameters[i..]);
            }
        }
        StepScalar(parameters[i..], gradients[i..], m[i..], v[i..], c);
    }

    /// <summary>Scalar reference for <see cref="Step"/>.</summary>
    public static void StepScalar(Span<float> parameters, ReadOnlySpan<float> gradients, Span<float> m, Span<float> v, in StepConstants c)
    {
        CheckLengths(parameters, gradients, m, v);
        float oneMinusBeta1 = 1 - c.Beta1, oneMinusBeta2 = 1 - c.Beta2, decay = 1 - c.LearningRate * c.WeightDecay;
        for (int i = 0; i < parameters.Length; i++)
        {
            float g = gradients[i];
            float mi = c.Beta1 * m[i] + oneMinusBeta1 * g;
            float vi = c.Beta2 * v[i] + oneMinusBeta2 * (g * g);
            float denominator = MathF.Sqrt(vi) * c.InverseSqrtBiasCorrection2 + c.Epsilon;
            m[i] = mi;
            v[i] = vi;
            parameters[i] = parameters[i] * decay - c.StepSize * (mi / denominator);
        }
    }

    private static void CheckLengths(Span<float> parameters, ReadOnlySpan<float> gradients, Span<float> m, Span<float> v)
    {
        if (gradients.Length != parameters.Length || m.Length != parameters.Length || v.Length != parameters.Length)
            throw new ArgumentException(
                $"AdamW: parameters ({parameters.Length}), gradients ({gradients.Length}), m ({m.Length}) and v ({v.Length}) must have equal lengths.");
    }
}
