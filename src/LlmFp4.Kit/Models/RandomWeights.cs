namespace LlmFp4.Kit.Models;

/// <summary>Seeded random weights for models built from scratch in tests and benchmarks.</summary>
internal static class RandomWeights
{
    /// <summary>
    /// Fills <paramref name="data"/> with N(0, std²) samples by Box–Muller, two per pair of uniforms drawn from
    /// <paramref name="random"/>, so the same seed gives the same weights on any machine.
    /// </summary>
    public static void FillNormal(Span<float> data, Random random, float std)
    {
        for (int i = 0; i < data.Length; i += 2)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            double radius = std * Math.Sqrt(-2.0 * Math.Log(u1));
            data[i] = (float)(radius * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < data.Length) data[i + 1] = (float)(radius * Math.Sin(2 * Math.PI * u2));
        }
    }
}
