using BenchmarkDotNet.Attributes;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Loading;

namespace LlmFp4.Kit.Benchmarks;

/// <summary>
/// Converting a default-model-sized checkpoint (8.0 M parameters) to float32, per file format and dtype,
/// into buffers allocated once (steady state: the mapping is warm, the destination already touched).
/// </summary>
[SimpleJob(warmupCount: 3, iterationCount: 8)]
public class LoadingBenchmarks
{
    private string _folder = "";
    private LlamaCheckpoint _checkpoint = null!;
    private Dictionary<string, float[]> _destination = [];

    [Params("hf-f32", "hf-bf16", "hf-f16", "gguf-f16", "llama2c")]
    public string Checkpoint { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        var config = new LlamaConfig
        {
            VocabSize = 4096, HiddenSize = 256, IntermediateSize = 704, NumHiddenLayers = 8,
            NumAttentionHeads = 8, NumKeyValueHeads = 4, MaxPositionEmbeddings = 256, RmsNormEps = 1e-5,
        };
        var random = new Random(1);
        var weights = LlamaTensorLayout.Expected(config).ToDictionary(e => e.Name,
            e => Enumerable.Range(0, (int)LlamaTensorLayout.ElementCount(e.Shape)).Select(_ => (float)random.NextDouble() - 0.5f).ToArray());
        _folder = Directory.CreateTempSubdirectory("llmfp4-loading-bench-").FullName;
        string path = Path.Combine(_folder, Checkpoint);
        switch (Checkpoint)
        {
            case "hf-f32": HfCheckpointWriter.Save(path, config, weights, DType.F32); break;
            case "hf-bf16": HfCheckpointWriter.Save(path, config, weights, DType.BF16); break;
            case "hf-f16": HfCheckpointWriter.Save(path, config, weights, DType.F16); break;
            case "gguf-f16": GgufWriter.SaveLlama(path += ".gguf", config, weights, DType.F16); break;
            case "llama2c": Llama2cCheckpoint.Save(path += ".bin", config, weights); break;
        }
        _checkpoint = CheckpointLoader.Open(path);
        _destination = weights;
    }

    [Benchmark]
    public void ReadAllIntoExistingBuffers()
    {
        foreach (var (name, buffer) in _destination) _checkpoint.ReadFloat32(name, buffer);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _checkpoint.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
