namespace LlmFp4.Kit.Models;

/// <summary>Seeded random weights for models built from scratch in tests and benchmarks.</summary>
internal static class RandomWeights
{
    /// <summary>
    /// A tensor per (name, shape), in order: norm weights (those <paramref name="isNormWeight"/> picks) are 1, every
    /// other value is drawn from N(0, std²) by <see cref="FillNormal"/> from one <see cref="Random"/> seeded with
    /// <paramref name="seed"/>. Same shapes, seed and std → same weights.
    /// </summary>
    public static Dictionary<string, float[]> Create(IEnumerable<(string Name, int[] Shape)> shapes, int seed, float std, Func<string, bool> isNormWeight)
    {
        var random = new Random(seed);
        var weights = new Dictionary<string, float[]>();
        foreach (var (name, shape) in shapes)
        {
            var data = new float[shape.Aggregate(1, (product, dim) => product * dim)];
            if (isNormWeight(name)) Array.Fill(data, 1f);
            else FillNormal(data, random, std);
            weights[name] = data;
        }
        return weights;
    }

    /// <summary>
    /// Fills <paramref name="data"/> with N(0, std²) samples by Box–Muller, two per pair of uniforms drawn from
    /// <paramref name="random"/>, so the same seed gives the same weights on any machine.
    /// </summary>
    private static void FillNormal(Span<float> data, Random random, float std)
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
