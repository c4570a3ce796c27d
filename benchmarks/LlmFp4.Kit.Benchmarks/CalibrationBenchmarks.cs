using BenchmarkDotNet.Attributes;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Benchmarks;

/// <summary>
/// The FPQ W4A4 search on input groups of the default model's shapes (2048 calibration tokens, k = 20, 2 rounds):
/// q/k/v (256 → 3 × 256, Gram path) and down_proj (768 → 256, direct path). Whole-model timing: `llmfp4 calibrate`.
/// </summary>
[Config(typeof(ShortInProcessConfig))]
public class CalibrationBenchmarks
{
    private const int Tokens = 2048;

    [Params("qkv", "down")] public string Group { get; set; } = "";
    [Params(false, true)] public bool PreShifted { get; set; }

    private InputGroup _group = null!;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(0);
        float[] Random(int count, double scale) => [.. Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale))];
        (int inFeatures, int outFeatures, int layers) = Group == "qkv" ? (256, 256, 3) : (768, 256, 1);
        var linears = Enumerable.Range(0, layers).Select(i => new LinearLayer($"layer{i}", inFeatures, outFeatures, Random(inFeatures * outFeatures, 0.05))).ToArray();
        _group = new InputGroup(Group, linears) { Tokens = Tokens, Inputs = Random(Tokens * inFeatures, 2) };
    }

    [Benchmark]
    public int Search() => new FpqSearch(_group, QuantSpec.Fp(4, Granularity.PerRow),
        QuantSpec.Fp(4, PreShifted ? Granularity.PerColumn : Granularity.PerTensor),
        new SearchSettings { Steps = 20, Rounds = 2 }, PreShifted).Run().Count;
}
