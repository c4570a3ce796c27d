using LlmFp4.Kit.Models;
using LlmFp4.Kit.Training;

namespace LlmFp4.Kit.Tests.Training;

/// <summary>Tiny shapes and data shared by the training tests.</summary>
internal static class TinyTraining
{
    public static LlamaConfig Config(int kvHeads = 1) => new()
    {
        VocabSize = 17,
        HiddenSize = 8,
        IntermediateSize = 12,
        NumHiddenLayers = 2,
        NumAttentionHeads = 2,
        NumKeyValueHeads = kvHeads,
        MaxPositionEmbeddings = 16,
        RmsNormEps = 1e-5,
    };

    public static int[] RandomTokens(int count, int vocab, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => random.Next(vocab)).ToArray();
    }

    /// <summary>A synthetic token stream with structure (a noisy pattern over 32 ids) that a tiny model can learn.</summary>
    public static int[] PatternTokens(int count, int vocab, int seed)
    {
        var random = new Random(seed);
        var tokens = new int[count];
        int alphabet = Math.Min(vocab, 32);
        for (int i = 0; i < count; i++) tokens[i] = random.NextDouble() < 0.1 ? random.Next(alphabet) : (i * 7 + i / 5) % alphabet;
        return tokens;
    }

    public static float[] RandomValues(int count, int seed, float scale = 1f)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale)).ToArray();
    }

    /// <summary>A trainer whose weights are random (norm weights perturbed away from 1 so their gradients matter).</summary>
    public static LlamaTrainer Trainer(LlamaConfig config, int sequenceLength, int microBatch, int seed)
    {
        var trainer = new LlamaTrainer(config, sequenceLength, microBatch);
        trainer.Parameters.InitializeRandom(seed, 0.3);
        var random = new Random(seed + 1);
        foreach (var slice in trainer.Parameters.Slices.Where(s => !s.Decays))
            for (int i = 0; i < slice.Length; i++) trainer.Parameters.Values[slice.Offset + i] = 1f + (float)(random.NextDouble() - 0.5);
        return trainer;
    }
}
