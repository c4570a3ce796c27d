using LlmFp4.Kit.Training;

namespace LlmFp4.Kit.Tests.Training;

public class CausalAttentionTests
{
    // Longer than two blocks of query rows, with a partial last block.
    private const int T = 2 * CausalAttention.BlockRows + 9, D = 4, Sequences = 2;

    /// <summary>Naive causal attention in double: out[t] = Σ_{j≤t} softmax_j(q_t·k_j/√d) v_j.</summary>
    private static double[] Reference(float[] q, float[] k, float[] v, int heads, int kvHeads)
    {
        var output = new double[Sequences * T * heads * D];
        for (int s = 0; s < Sequences; s++)
        for (int h = 0; h < heads; h++)
        {
            int g = h / (heads / kvHeads);
            for (int t = 0; t < T; t++)
            {
                var scores = new double[t + 1];
                for (int j = 0; j <= t; j++)
                {
                    double dot = 0;
                    for (int x = 0; x < D; x++) dot += (double)q[((s * T + t) * heads + h) * D + x] * k[((s * T + j) * kvHeads + g) * D + x];
                    scores[j] = dot / Math.Sqrt(D);
                }
                double max = scores.Max(), sum = scores.Sum(x => Math.Exp(x - max));
                for (int j = 0; j <= t; j++)
                for (int x = 0; x < D; x++)
                    output[((s * T + t) * heads + h) * D + x] += Math.Exp(scores[j] - max) / sum * v[((s * T + j) * kvHeads + g) * D + x];
            }
        }
        return output;
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(2, 2)]
    public void ForwardMatchesNaiveReference(int heads, int kvHeads)
    {
        var attention = new CausalAttention(T, heads, kvHeads, D);
        float[] q = TinyTraining.RandomValues(Sequences * T * heads * D, 1, 2f);
        float[] k = TinyTraining.RandomValues(Sequences * T * kvHeads * D, 2, 2f);
        float[] v = TinyTraining.RandomValues(Sequences * T * kvHeads * D, 3);
        var probabilities = new float[Sequences * heads * attention.ProbabilityCount];
        var output = new float[q.Length];
        attention.Forward(q, k, v, Sequences, probabilities, output);
        double[] expected = Reference(q, k, v, heads, kvHeads);
        for (int i = 0; i < output.Length; i++) Assert.True(Math.Abs(output[i] - expected[i]) < 1e-5, $"output[{i}]: {output[i]} vs {expected[i]}");
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(2, 2)]
    public void BackwardMatchesCentralDifferences(int heads, int kvHeads)
    {
        var attention = new CausalAttention(T, heads, kvHeads, D);
        float[] q = TinyTraining.RandomValues(Sequences * T * heads * D, 4, 2f);
        float[] k = TinyTraining.RandomValues(Sequences * T * kvHeads * D, 5, 2f);
        float[] v = TinyTraining.RandomValues(Sequences * T * kvHeads * D, 6);
        float[] weights = TinyTraining.RandomValues(q.Length, 7); // loss = Σ weights ⊙ output
        var probabilities = new float[Sequences * heads * attention.ProbabilityCount];
        var output = new float[q.Length];
        attention.Forward(q, k, v, Sequences, probabilities, output);
        float[] dq = new float[q.Length], dk = new float[k.Length], dv = new float[v.Length];
        attention.Backward(q, k, v, Sequences, probabilities, output, weights, dq, dk, dv);

        double Loss() => Reference(q, k, v, heads, kvHeads).Select((o, i) => o * weights[i]).Sum();
        var random = new Random(8);
        foreach (var (input, gradient) in new[] { (q, dq), (k, dk), (v, dv) })
        {
            for (int probe = 0; probe < 12; probe++)
            {
                // Probe late positions too: they exercise the last, partial block.
                int index = probe < 6 ? random.Next(input.Length) : input.Length - 1 - random.Next(input.Length / 8);
                float saved = input[index];
                const float h = 1e-2f;
                input[index] = saved + h;
                double plus = Loss();
                input[index] = saved - h;
                double minus = Loss();
                input[index] = saved;
                double numeric = (plus - minus) / (2 * h);
                Assert.True(Math.Abs(numeric - gradient[index]) <= 1e-3 + 1e-2 * Math.Abs(numeric), $"[{index}]: analytic {gradient[index]}, numeric {numeric}");
            }
        }
    }
}
