using System.Numerics.Tensors;

namespace LlmFp4.Kit.Models;

/// <summary>Picks the next token from a row of logits as <see cref="GenerationSettings"/> say.</summary>
public static class TokenSampler
{
    /// <summary>
    /// Greedy (temperature 0): the index of the largest logit, lowest on ties. Otherwise: candidates ordered by
    /// logit (descending, then id), cut to the top K, softmax of logit / temperature in double, cut to the
    /// smallest prefix whose probability reaches top-p, and one draw of <paramref name="random"/> against the
    /// cumulative renormalised probabilities. Exactly one <see cref="Random.NextDouble"/> per sampled token,
    /// none when greedy. NaN logits are an error (they would make the choice meaningless).
    /// </summary>
    public static int Sample(ReadOnlySpan<float> logits, GenerationSettings settings, Random random)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(random);
        if (logits.IsEmpty) throw new ArgumentException("TokenSampler: no logits.");
        foreach (float logit in logits)
            if (float.IsNaN(logit)) throw new ArgumentException("TokenSampler: the logits contain NaN.");
        if (settings.Temperature == 0) return TensorPrimitives.IndexOfMax(logits);

        int[] order = new int[logits.Length];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        float[] values = logits.ToArray();
        Array.Sort(order, (a, b) => values[a] != values[b] ? values[b].CompareTo(values[a]) : a.CompareTo(b));
        int count = settings.TopK > 0 ? Math.Min(settings.TopK, order.Length) : order.Length;

        var weights = new double[count];
        double top = values[order[0]], total = 0;
        for (int i = 0; i < count; i++)
            total += weights[i] = Math.Exp((values[order[i]] - top) / settings.Temperature);
        if (settings.TopP < 1)
        {
            double kept = 0;
            for (int i = 0; i < count; i++)
            {
                kept += weights[i];
                if (kept >= settings.TopP * total)
                {
                    count = i + 1;
                    break;
                }
            }
            total = kept;
        }

        double draw = random.NextDouble() * total, cumulative = 0;
        for (int i = 0; i < count; i++)
        {
            cumulative += weights[i];
            if (draw < cumulative) return order[i];
        }
        return order[count - 1]; // draw within rounding of the total
    }
}
