using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Loading;
using static LlmFp4.Kit.Tests.Loading.TinyCheckpoints;

namespace LlmFp4.Kit.Tests.Loading;

public class LoadedModelTests
{
    private static readonly int[][] Sequences = [[1, 5, 9, 2, 12, 0, 7], [3, 3, 11]];

    private static float[][] Logits(LlamaConfig config, IReadOnlyDictionary<string, float[]> weights) =>
        new LlamaModel(config, weights).Logits(Sequences);

    [Theory]
    [InlineData("hf", DType.F32)]
    [InlineData("gguf", DType.F32)]
    [InlineData("llama2c", DType.F32)]
    [InlineData("hf", DType.BF16)]
    [InlineData("gguf", DType.F16)]
    public void EveryFormatGivesTheLogitsOfTheOriginalWeights(string format, DType dtype)
    {
        using var temp = new TempFolder();
        var config = Config() with { BosTokenId = null, EosTokenId = null };
        var weights = Weights(config);
        string path = temp.File(format == "llama2c" ? "model.bin" : format);
        switch (format)
        {
            case "hf": HfCheckpointWriter.Save(path, config, weights, dtype); break;
            case "gguf": GgufWriter.SaveLlama(path, config, weights, dtype); break;
            default: Llama2cCheckpoint.Save(path, config, weights); break;
        }
        var stored = weights.ToDictionary(w => w.Key, w => format == "gguf" ? RoundedAsGguf(w.Key, w.Value, dtype) : Rounded(w.Value, dtype));

        using var checkpoint = CheckpointLoader.Open(path);
        var expected = Logits(config, stored);
        var actual = Logits(checkpoint.Config, checkpoint.ReadAllFloat32());
        for (int s = 0; s < Sequences.Length; s++)
            Assert.True(expected[s].AsSpan().SequenceEqual(actual[s]), $"{format} {dtype}: logits of sequence {s} differ");
    }

    [Theory]
    [InlineData("hf", DType.F16)]
    [InlineData("gguf", DType.BF16)]
    public void StoredWeightsStayInTheFileAndGiveTheSameLogits(string format, DType dtype)
    {
        using var temp = new TempFolder();
        var config = Config() with { BosTokenId = null, EosTokenId = null };
        string path = temp.File(format);
        if (format == "hf") HfCheckpointWriter.Save(path, config, Weights(config), dtype);
        else GgufWriter.SaveLlama(path, config, Weights(config), dtype);

        var checkpoint = CheckpointLoader.Open(path);
        var converted = LlamaModel.FromCheckpoint(checkpoint);
        var mapped = LlamaModel.FromCheckpoint(checkpoint, keepStoredWeights: true);
        Assert.All(converted.Linears, linear => Assert.False(linear.KeepsStoredWeight));
        Assert.All(mapped.Linears, linear => Assert.True(linear.KeepsStoredWeight));
        var expected = converted.Logits(Sequences);
        var actual = mapped.Logits(Sequences);
        for (int s = 0; s < Sequences.Length; s++)
            Assert.True(expected[s].AsSpan().SequenceEqual(actual[s]), $"{format} {dtype}: logits of sequence {s} differ");

        // Decoding one token at a time (F16: the weights multiplied in place) gives the same logits at every step.
        var (convertedCache, mappedCache) = (converted.CreateCache(Sequences[0].Length), mapped.CreateCache(Sequences[0].Length));
        var (convertedLogits, mappedLogits) = (new float[config.VocabSize], new float[config.VocabSize]);
        foreach (int token in Sequences[0])
        {
            converted.Decode([token], convertedCache, convertedLogits);
            mapped.Decode([token], mappedCache, mappedLogits);
            Assert.True(convertedLogits.AsSpan().SequenceEqual(mappedLogits), $"{format} {dtype}: decoded logits differ");
        }

        // Reading a weight converts that layer for good; a closed checkpoint can no longer serve the others.
        var query = mapped.Layers[0].QProj;
        Assert.Equal(converted.Layers[0].QProj.Weight, query.Weight);
        Assert.False(query.KeepsStoredWeight);
        checkpoint.Dispose();
        Assert.True(converted.Logits(Sequences)[0].AsSpan().SequenceEqual(expected[0]));
        Assert.Throws<ObjectDisposedException>(() => mapped.Logits(Sequences));
    }
}
