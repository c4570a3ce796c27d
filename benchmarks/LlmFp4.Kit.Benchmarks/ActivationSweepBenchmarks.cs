using BenchmarkDotNet.Attributes;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Benchmarks;

/// <summary>
/// One activation sweep of the FPQ search (every candidate of every FP4 activation format, pre-shifted, k = 100) over
/// 128 tokens of TinyLlama-1.1B's widest input groups, where the paper setting spends most of its time: q/k/v
/// (2048 → 2048 + 256 + 256) and down_proj (5632 → 2048). Inputs are seeded Gaussians with per-channel scales spread
/// over two decades, as real activations' outlier channels are.
/// </summary>
[Config(typeof(ShortInProcessConfig))]
public class ActivationSweepBenchmarks
{
    private const int Tokens = 128, Candidates = 100;

    [Params("qkv-2048", "down-5632")] public string Group { get; set; } = "";

    private InputGroup _group = null!;
    private (float[] Weight, float[] Quantized, int Outputs)[] _layers = [];
    private ActivationGrid[] _grids = [];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(0);
        double Gaussian() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        (int inFeatures, int[] outs) = Group == "qkv-2048" ? (2048, new[] { 2048, 256, 256 }) : (5632, new[] { 2048 });
        var linears = outs.Select((o, i) => new LinearLayer($"layer{i}", inFeatures, o,
            [.. Enumerable.Range(0, o * inFeatures).Select(_ => (float)(0.02 * Gaussian()))])).ToArray();
        var channelScales = Enumerable.Range(0, inFeatures).Select(_ => Math.Pow(10, 2 * random.NextDouble() - 1)).ToArray();
        _group = new InputGroup(Group, linears)
        {
            Tokens = Tokens,
            Inputs = [.. Enumerable.Range(0, Tokens * inFeatures).Select(k => (float)(channelScales[k % inFeatures] * Gaussian()))],
        };
        _layers = [.. linears.Select(l => (l.Weight, MinMaxPerRow(l.Weight, l.OutFeatures, l.InFeatures), l.OutFeatures))];
        var settings = new SearchSettings { Steps = Candidates };
        _grids = [.. QuantSpec.Fp(4, Granularity.PerColumn).SearchFormats.Select(f => new ActivationGrid(f, _group.Inputs, Tokens, inFeatures, settings.Multipliers(), preShifted: true))];
    }

    /// <summary>W quantized to E2M1 per row at its min-max bias, the search's starting point.</summary>
    private static float[] MinMaxPerRow(float[] weight, int rows, int cols)
    {
        var quantized = (float[])weight.Clone();
        FpQuantizer.PerRow(FpFormat.E2M1, Ranges.RowBiases(FpFormat.E2M1, weight, rows, cols)).Apply(quantized, rows, cols);
        return quantized;
    }

    [Benchmark]
    public double Sweep() => new ActivationSweep(_group, _layers).Errors(_grids, Candidates)[0][0][0];
}
