using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Loading;

namespace LlmFp4.Kit.Training;

/// <summary>One tensor of a <see cref="LlamaParameters"/> buffer: its Hugging Face name, shape and place.</summary>
public sealed record ParameterSlice(string Name, int[] Shape, int Offset, int Length)
{
    /// <summary>Norm weights (1-D) are not decayed.</summary>
    public bool Decays => Shape.Length > 1;
}

/// <summary>
/// All weights of a LLaMA model in one contiguous float buffer, in <see cref="LlamaTensorLayout.Expected"/>
/// order, so the optimizer, clipping and checkpoints see one span. Gradients use a second instance.
/// </summary>
public sealed class LlamaParameters
{
    private readonly Dictionary<string, ParameterSlice> _byName;

    public LlamaConfig Config { get; }
    public float[] Values { get; }
    public IReadOnlyList<ParameterSlice> Slices { get; }

    public LlamaParameters(LlamaConfig config)
    {
        config.Validate();
        Config = config;
        var slices = new List<ParameterSlice>();
        long offset = 0;
        foreach (var (name, shape) in LlamaTensorLayout.Expected(config))
        {
            long length = shape.Aggregate(1L, (a, b) => a * b);
            slices.Add(new ParameterSlice(name, shape, checked((int)offset), checked((int)length)));
            offset += length;
        }
        Values = new float[checked((int)offset)];
        Slices = slices;
        _byName = slices.ToDictionary(s => s.Name);
    }

    public int Count => Values.Length;

    public Span<float> this[string name] => Values.AsSpan(Slice(name).Offset, Slice(name).Length);

    public ParameterSlice Slice(string name) =>
        _byName.TryGetValue(name, out var slice) ? slice : throw new ArgumentException($"parameters: no tensor named '{name}'.");

    public Span<float> Layer(int layer, string suffix) => this[LlamaTensorLayout.Layer(layer, suffix)];

    /// <summary>
    /// GPT-2 style initialisation: norm weights 1, matrices N(0, std²), with the two projections that write
    /// into the residual stream (o_proj, down_proj) scaled by 1/√(2·layers) so the stream's variance does
    /// not grow with depth. Normal samples come from Box–Muller on <c>new Random(seed)</c>, in slice order.
    /// </summary>
    public void InitializeRandom(int seed, double std)
    {
        var random = new Random(seed);
        double residualStd = std / Math.Sqrt(2.0 * Config.NumHiddenLayers);
        foreach (var slice in Slices)
        {
            var values = Values.AsSpan(slice.Offset, slice.Length);
            if (!slice.Decays)
            {
                values.Fill(1f);
                continue;
            }
            bool residual = slice.Name.EndsWith("o_proj.weight", StringComparison.Ordinal) || slice.Name.EndsWith("down_proj.weight", StringComparison.Ordinal);
            double sd = residual ? residualStd : std;
            for (int i = 0; i < values.Length; i++)
            {
                double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
                values[i] = (float)(sd * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
            }
        }
    }

    /// <summary>Copies every tensor out by name (the form <c>LlamaModel</c> and the checkpoint writers take).</summary>
    public Dictionary<string, float[]> ToDictionary() =>
        Slices.ToDictionary(s => s.Name, s => Values.AsSpan(s.Offset, s.Length).ToArray());

    /// <summary>Copies weights in by name; throws naming the first missing or mis-sized tensor.</summary>
    public void CopyFrom(IReadOnlyDictionary<string, float[]> weights)
    {
        foreach (var slice in Slices)
        {
            if (!weights.TryGetValue(slice.Name, out var source))
                throw new ArgumentException($"parameters: tensor '{slice.Name}' is missing.");
            if (source.Length != slice.Length)
                throw new ArgumentException($"parameters: tensor '{slice.Name}' has {source.Length} values, expected {slice.Length}.");
            source.CopyTo(Values.AsSpan(slice.Offset, slice.Length));
        }
    }
}
