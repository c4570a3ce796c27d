using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Loading;

namespace LlmFp4.Kit.Tests.Loading;

/// <summary>Tiny random LLaMA weights and a scratch folder that is deleted after each test.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("llmfp4-loading-").FullName;
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() => Directory.Delete(Path, recursive: true);
}

public static class TinyCheckpoints
{
    /// <summary>Grouped-query attention (4 query heads, 2 kv heads), untied head, run.c's eps and theta.</summary>
    public static LlamaConfig Config(bool tied = false) => new()
    {
        VocabSize = 13,
        HiddenSize = 16,
        IntermediateSize = 24,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        NumKeyValueHeads = 2,
        MaxPositionEmbeddings = 32,
        RmsNormEps = 1e-5,
        RopeTheta = 10000,
        TieWordEmbeddings = tied,
        BosTokenId = 1,
        EosTokenId = 2,
    };

    public static Dictionary<string, float[]> Weights(LlamaConfig config, int seed = 7)
    {
        var random = new Random(seed);
        return LlamaTensorLayout.Expected(config).ToDictionary(
            e => e.Name,
            e => Enumerable.Range(0, (int)LlamaTensorLayout.ElementCount(e.Shape))
                .Select(_ => (float)(random.NextDouble() * 2 - 1))
                .ToArray());
    }

    /// <summary>What a tensor reads back as after a trip through <paramref name="dtype"/>.</summary>
    public static float[] Rounded(float[] values, DType dtype)
    {
        var bytes = new byte[values.Length * dtype.ByteSize()];
        DTypes.FromFloat32(values, dtype, bytes);
        var back = new float[values.Length];
        DTypes.ToFloat32(bytes, dtype, back);
        return back;
    }

    /// <summary>What a tensor reads back as from a GGUF the kit wrote in <paramref name="dtype"/>: norm weights stay F32 there.</summary>
    public static float[] RoundedAsGguf(string name, float[] values, DType dtype) =>
        Rounded(values, name.EndsWith("norm.weight", StringComparison.Ordinal) ? DType.F32 : dtype);

    public static void AssertSameWeights(IReadOnlyDictionary<string, float[]> expected, IReadOnlyDictionary<string, float[]> actual, DType dtype = DType.F32,
        bool gguf = false)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, values) in expected)
            Assert.True((gguf ? RoundedAsGguf(name, values, dtype) : Rounded(values, dtype)).AsSpan().SequenceEqual(actual[name]), $"tensor {name} differs");
    }

    /// <summary>Asserts <paramref name="open"/> throws InvalidDataException whose message holds every fragment.</summary>
    public static InvalidDataException AssertInvalid(Action open, params string[] fragments)
    {
        var ex = Assert.Throws<InvalidDataException>(open);
        foreach (var fragment in fragments) Assert.Contains(fragment, ex.Message);
        return ex;
    }
}
