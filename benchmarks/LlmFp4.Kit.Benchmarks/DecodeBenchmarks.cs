using BenchmarkDotNet.Attributes;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Loading;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Benchmarks;

/// <summary>
/// KV-cache generation on a model the default model's size: prefill a 32-token prompt, then 64 single-token
/// decode steps (greedy). tokens/s counts the 64 generated tokens over the whole time, prefill included. Weights either float32 arrays or F16 kept
/// memory-mapped: the prefill converts each layer, a decode step multiplies the F16 values in place (managed backend).
/// </summary>
[Config(typeof(Config))]
public class DecodeBenchmarks
{
    private const int Prompt = 32, Generated = 64;

    private sealed class Config : ShortInProcessConfig
    {
        public Config() : base(warmupCount: 12) => AddColumn(new ThroughputColumn("tokens/s", _ => Generated, 1));
    }

    [Params("openblas", "managed")] public string Backend { get; set; } = "";
    [Params("float32", "f16-mapped")] public string Weights { get; set; } = "";

    private LlamaModel _model = null!;
    private LlamaCheckpoint? _checkpoint;
    private string? _folder;
    private KvCache _cache = null!;
    private int[] _prompt = [];
    private float[] _logits = [];

    [GlobalSetup]
    public void Setup()
    {
        Gemm.UseBackend(ShortInProcessConfig.Backend(Backend));
        var config = ShortInProcessConfig.DefaultModelShape;
        _model = LlamaModel.CreateRandom(config, seed: 0);
        if (Weights == "f16-mapped")
        {
            _folder = Directory.CreateTempSubdirectory("llmfp4-decode-bench-").FullName;
            HfCheckpointWriter.Save(_folder, config, _model.NamedWeights().ToDictionary(e => e.Name, e => e.Tensor.Data), DType.F16);
            _checkpoint = CheckpointLoader.Open(_folder);
            _model = LlamaModel.FromCheckpoint(_checkpoint, keepStoredWeights: true);
        }
        var random = new Random(1);
        _prompt = Enumerable.Range(0, Prompt).Select(_ => random.Next(config.VocabSize)).ToArray();
        _cache = _model.CreateCache(Prompt + Generated);
        _logits = new float[config.VocabSize];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _checkpoint?.Dispose();
        if (_folder is not null) Directory.Delete(_folder, recursive: true);
    }

    [Benchmark]
    public int Generate()
    {
        _cache.Clear();
        _model.Decode(_prompt, _cache, _logits);
        int token = 0;
        for (int i = 0; i < Generated; i++)
        {
            token = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(_logits);
            _model.Decode([token], _cache, _logits);
        }
        return token;
    }
}
