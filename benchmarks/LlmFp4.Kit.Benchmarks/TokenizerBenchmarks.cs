using BenchmarkDotNet.Attributes;
using LlmFp4.Kit.Models.Tokenizers;

namespace LlmFp4.Kit.Benchmarks;

/// <summary>
/// Byte-level BPE on the committed corpus: encoding the test split (≈0.87 MB) with a cold and a warm word cache,
/// and training a 4096-token vocabulary on the validation split (≈0.91 MB). Run from the repository root.
/// </summary>
[MemoryDiagnoser]
public class TokenizerBenchmarks
{
    private string _test = "", _validation = "", _tokenizerJson = "";
    private BpeTokenizer _warm = null!;

    [GlobalSetup]
    public void Setup()
    {
        var root = Directory.GetCurrentDirectory();
        while (!File.Exists(Path.Combine(root, "LlmFp4Kit.sln")))
            root = Path.GetDirectoryName(root) ?? throw new DirectoryNotFoundException("Run the benchmarks inside the repository.");
        _test = File.ReadAllText(Path.Combine(root, "data/corpus/test.txt"));
        _validation = File.ReadAllText(Path.Combine(root, "data/corpus/validation.txt"));
        _tokenizerJson = File.ReadAllText(Path.Combine(root, "data/tokenizer/tokenizer.json"));
        _warm = BpeTokenizer.Parse(_tokenizerJson, "tokenizer.json");
        _warm.Encode(_test);
    }

    [Benchmark]
    public int EncodeTestSplitWarmCache() => _warm.Encode(_test).Length;

    [Benchmark]
    public int LoadAndEncodeTestSplit() => BpeTokenizer.Parse(_tokenizerJson, "tokenizer.json").Encode(_test).Length;

    [Benchmark]
    public int TrainOnValidationSplit() => BpeTrainer.Train([_validation], new BpeTrainerSettings(VocabSize: 4096)).Length;
}
