using BenchmarkDotNet.Attributes;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Benchmarks;

/// <summary>Forward throughput of a model the default model's size on a batch of 8 × 256 tokens.</summary>
[Config(typeof(Config))]
public class ForwardBenchmarks
{
    private const int Sequences = 8, Length = 256;

    private sealed class Config : ShortInProcessConfig
    {
        public Config() : base(warmupCount: 12) => AddColumn(new ThroughputColumn("tokens/s", _ => Sequences * Length, 1));
    }

    [Params("openblas", "managed")] public string Backend { get; set; } = "";

    private LlamaModel _model = null!;
    private int[][] _batch = [];
    private float[] _logits = [];

    [GlobalSetup]
    public void Setup()
    {
        Gemm.UseBackend(ShortInProcessConfig.Backend(Backend));
        var config = ShortInProcessConfig.DefaultModelShape;
        _model = LlamaModel.CreateRandom(config, seed: 0);
        var random = new Random(1);
        _batch = Enumerable.Range(0, Sequences).Select(_ => Enumerable.Range(0, Length).Select(_ => random.Next(config.VocabSize)).ToArray()).ToArray();
        _logits = new float[Sequences * Length * config.VocabSize];
    }

    [Benchmark]
    public void Forward() => _model.Forward(_batch, _logits);
}
