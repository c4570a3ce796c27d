using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Loading;
using LlmFp4.Kit.Tests.Tokenizers;

namespace LlmFp4.Kit.Tests.Models;

/// <summary>
/// Logits of a tiny random LLaMA (GQA, untied head, rope_theta 1000, F16/BF16/F32 tensors) against an independent
/// PyTorch implementation of Hugging Face's LlamaForCausalLM (tests/golden/make_llama_golden.py).
/// </summary>
public class TorchGoldenTests
{
    private const float Tolerance = 1e-4f;

    private static (LlamaModel Model, List<(int[] Ids, float[] Logits)> Golden) Load()
    {
        string folder = RepositoryFiles.Path("tests/golden/llama_tiny");
        LlamaModel model;
        using (var checkpoint = CheckpointLoader.Open(folder)) model = new LlamaModel(checkpoint.Config, checkpoint.ReadAllFloat32());
        using var reader = new BinaryReader(File.OpenRead(Path.Combine(folder, "golden_logits.bin")));
        var golden = new List<(int[], float[])>();
        int count = reader.ReadInt32();
        for (int s = 0; s < count; s++)
        {
            int length = reader.ReadInt32();
            int[] ids = Enumerable.Range(0, length).Select(_ => reader.ReadInt32()).ToArray();
            float[] logits = Enumerable.Range(0, length * model.VocabSize).Select(_ => reader.ReadSingle()).ToArray();
            golden.Add((ids, logits));
        }
        return (model, golden);
    }

    private static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        float worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        Assert.True(worst <= Tolerance, $"{what}: max |logit − torch| = {worst:E2} > {Tolerance:E0}");
    }

    [Fact]
    public void BatchForwardMatchesPyTorch()
    {
        var (model, golden) = Load();
        Assert.Equal(1000.0, model.Config.RopeTheta);
        Assert.Equal(2, model.Config.KeyValueHeads);
        float[][] logits = model.Logits(golden.Select(g => g.Ids).ToArray());
        for (int s = 0; s < golden.Count; s++)
            AssertClose(golden[s].Logits, logits[s], $"sequence {s} ({golden[s].Ids.Length} tokens)");
    }

    [Fact]
    public void KvCacheDecodingMatchesPyTorch()
    {
        var (model, golden) = Load();
        var (ids, expected) = golden[^1];
        int vocab = model.VocabSize;
        var cache = model.CreateCache();
        var logits = new float[vocab];
        model.Decode(ids.AsSpan(0, 5), cache, logits);
        AssertClose(expected.AsSpan(4 * vocab, vocab), logits, "prefill of 5");
        for (int t = 5; t < ids.Length; t++)
        {
            model.Decode(ids.AsSpan(t, 1), cache, logits);
            AssertClose(expected.AsSpan(t * vocab, vocab), logits, $"position {t}");
        }
    }
}
