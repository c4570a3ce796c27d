using BenchmarkDotNet.Attributes;
using LlmFp4.Kit.Models.Bert;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Benchmarks;

/// <summary>
/// Forward throughput of a BERT encoder of all-MiniLM-L6-v2's shape (random weights) on a batch of 32 sentences of
/// 48 tokens, about the length of a verse of the retrieval task.
/// </summary>
[Config(typeof(Config))]
public class EncoderForwardBenchmarks
{
    private const int Sequences = 32, Length = 48;

    private sealed class Config : ShortInProcessConfig
    {
        public Config() : base(warmupCount: 12) => AddColumn(new ThroughputColumn("tokens/s", _ => Sequences * Length, 1));
    }

    [Params("openblas", "managed")] public string Backend { get; set; } = "";

    private BertModel _model = null!;
    private int[][] _batch = [];
    private float[] _states = [];

    [GlobalSetup]
    public void Setup()
    {
        Gemm.UseBackend(ShortInProcessConfig.Backend(Backend));
        var config = new BertConfig { VocabSize = 30522, HiddenSize = 384, NumHiddenLayers = 6, NumAttentionHeads = 12, IntermediateSize = 1536 };
        _model = BertModel.CreateRandom(config, seed: 0);
        var random = new Random(1);
        _batch = Enumerable.Range(0, Sequences).Select(_ => Enumerable.Range(0, Length).Select(_ => random.Next(config.VocabSize)).ToArray()).ToArray();
        _states = new float[Sequences * Length * config.HiddenSize];
    }

    [Benchmark]
    public void Forward() => _model.Forward(_batch, _states);
}
