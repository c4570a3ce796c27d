using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Benchmarks;

/// <summary>
/// The FPQ W4A4 search (pre-shifted, k = 100) on TinyLlama-1.1B's widest input groups, where the paper setting spends
/// most of its time: q/k/v (2048 → 2048 + 256 + 256) and down_proj (5632 → 2048). <c>Sweep</c>: one activation sweep
/// (every candidate of every FP4 activation format) over 128 tokens. <c>Search</c>: the whole search of the group, one
/// round over 1024 tokens (weight candidates, Grams and the sweep). Inputs are seeded Gaussians with per-channel scales
/// spread over two decades, as real activations' outlier channels are; weights Gaussian (σ 0.02).
/// </summary>
[Config(typeof(Config))]
public class WideLayerSearchBenchmarks
{
    private const int SweepTokens = 128, SearchTokens = 1024, Candidates = 100;

    /// <summary>A search takes about a minute: one warmup and three measured runs.</summary>
    private sealed class Config : ManualConfig
    {
        public Config() => AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(3).WithInvocationCount(1).WithUnrollFactor(1));
    }

    [Params("qkv-2048", "down-5632")] public string Group { get; set; } = "";

    private InputGroup _sweepGroup = null!, _searchGroup = null!;
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
        float[] Inputs(int tokens) => [.. Enumerable.Range(0, tokens * inFeatures).Select(k => (float)(channelScales[k % inFeatures] * Gaussian()))];
        _sweepGroup = new InputGroup(Group, linears) { Tokens = SweepTokens, Inputs = Inputs(SweepTokens) };
        _searchGroup = new InputGroup(Group, linears) { Tokens = SearchTokens, Inputs = Inputs(SearchTokens) };
        _layers = [.. linears.Select(l => (l.Weight, MinMaxPerRow(l.Weight, l.OutFeatures, l.InFeatures), l.OutFeatures))];
        var settings = new SearchSettings { Steps = Candidates };
        _grids = [.. ActivationSpec.SearchFormats.Select(f => new ActivationGrid(f, _sweepGroup.Inputs, SweepTokens, inFeatures, settings.Multipliers(), preShifted: true))];
    }

    private static QuantSpec ActivationSpec => QuantSpec.Fp(4, Granularity.PerColumn);

    /// <summary>W quantized to E2M1 per row at its min-max bias, the search's starting point.</summary>
    private static float[] MinMaxPerRow(float[] weight, int rows, int cols) =>
        FpQuantizer.PerRow(FpFormat.E2M1, Ranges.RowBiases(FpFormat.E2M1, weight, rows, cols)).Quantize(weight, rows, cols);

    [Benchmark]
    public double Sweep() => new ActivationSweep(_sweepGroup, _layers).Errors(_grids, Candidates)[0][0][0];

    [Benchmark]
    public int Search() => new FpqSearch(_searchGroup, QuantSpec.Fp(4, Granularity.PerRow), ActivationSpec,
        new SearchSettings { Steps = Candidates, Rounds = 1 }, preShifted: true).Run().Count;
}
