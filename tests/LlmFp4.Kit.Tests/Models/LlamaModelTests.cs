using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Tests.Models;

public class LlamaModelTests
{
    internal static LlamaConfig TinyConfig(bool tied) => new()
    {
        VocabSize = 61,
        HiddenSize = 32,
        IntermediateSize = 48,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        NumKeyValueHeads = 2,
        MaxPositionEmbeddings = 40,
        RopeTheta = 500.0,
        RmsNormEps = 1e-5,
        TieWordEmbeddings = tied,
    };

    /// <summary>A random model with larger weights and non-trivial norms, so every part of the forward matters.</summary>
    internal static LlamaModel TinyModel(bool tied, int seed = 1)
    {
        var model = LlamaModel.CreateRandom(TinyConfig(tied), seed, std: 0.2f);
        var random = new Random(seed + 100);
        foreach (var (name, tensor) in model.NamedWeights())
            if (name.EndsWith("norm.weight", StringComparison.Ordinal))
                for (int i = 0; i < tensor.Length; i++) tensor.Data[i] = 0.5f + (float)random.NextDouble();
        return model;
    }

    internal static int[] RandomTokens(int length, int vocab, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => random.Next(vocab)).ToArray();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ForwardMatchesNaiveReference(bool tied)
    {
        var model = TinyModel(tied);
        var weights = model.NamedWeights().ToDictionary(e => e.Name, e => e.Tensor.Data);
        int[] tokens = RandomTokens(23, model.VocabSize, 7);

        float[] logits = model.Logits([tokens])[0];
        double[,] expected = NaiveLlama.Logits(model.Config, weights, tokens);

        double maxError = 0;
        for (int i = 0; i < tokens.Length; i++)
            for (int j = 0; j < model.VocabSize; j++)
                maxError = Math.Max(maxError, Math.Abs(logits[i * model.VocabSize + j] - expected[i, j]));
        Assert.InRange(maxError, 0, 1e-4);
    }
}
