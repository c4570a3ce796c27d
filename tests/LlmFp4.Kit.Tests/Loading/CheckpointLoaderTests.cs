using LlmFp4.Kit.Models.Loading;
using static LlmFp4.Kit.Tests.Loading.TinyCheckpoints;

namespace LlmFp4.Kit.Tests.Loading;

public class CheckpointLoaderTests
{
    [Fact]
    public void AllFormatsGiveTheSameFloat32Weights()
    {
        using var temp = new TempFolder();
        var config = Config();
        var weights = Weights(config);
        HfCheckpointWriter.Save(temp.File("hf"), config, weights);
        GgufWriter.SaveLlama(temp.File("m.gguf"), config, weights);
        Llama2cCheckpoint.Save(temp.File("m.bin"), config, weights);
        foreach (string path in new[] { temp.File("hf"), temp.File("m.gguf"), temp.File("m.bin") })
        {
            using var checkpoint = CheckpointLoader.Open(path);
            Assert.Equal(path, checkpoint.Source);
            AssertSameWeights(weights, checkpoint.ReadAllFloat32());
        }
    }

    [Fact]
    public void GgufIsRecognisedByMagicWhateverTheExtension()
    {
        using var temp = new TempFolder();
        var config = Config();
        string path = temp.File("model.weights");
        GgufWriter.SaveLlama(path, config, Weights(config));
        using var checkpoint = CheckpointLoader.Open(path);
        Assert.Equal(CheckpointFormat.Gguf, checkpoint.Format);
    }

    [Fact]
    public void MissingAndUnknownPathsAreClearErrors()
    {
        using var temp = new TempFolder();
        var missing = Assert.Throws<FileNotFoundException>(() => CheckpointLoader.Open(temp.File("nope")));
        Assert.Contains("nope", missing.Message);
        File.WriteAllText(temp.File("model.pt"), "not a model");
        var unknown = Assert.Throws<ArgumentException>(() => CheckpointLoader.Open(temp.File("model.pt")));
        Assert.Contains("model.pt", unknown.Message);
        File.WriteAllText(temp.File("w.safetensors"), "{}");
        var bare = Assert.Throws<ArgumentException>(() => CheckpointLoader.Open(temp.File("w.safetensors")));
        Assert.Contains("config.json", bare.Message);
    }

    /// <summary>
    /// Every prefix of a valid file, and the file with single bytes corrupted, either loads or fails with
    /// InvalidDataException; nothing else (no IndexOutOfRange, no overflow, no huge allocation).
    /// </summary>
    [Fact]
    public void CorruptFilesFailOnlyWithInvalidData()
    {
        using var temp = new TempFolder();
        var config = Config();
        var weights = Weights(config);
        HfCheckpointWriter.Save(temp.File("hf"), config, weights, DType.BF16);
        GgufWriter.SaveLlama(temp.File("m.gguf"), config, weights, DType.F16);
        Llama2cCheckpoint.Save(temp.File("m.bin"), config, weights);
        var random = new Random(3);
        foreach (var (target, open) in new (string, string)[]
                 {
                     (temp.File("hf/model.safetensors"), temp.File("hf")),
                     (temp.File("m.gguf"), temp.File("m.gguf")),
                     (temp.File("m.bin"), temp.File("m.bin")),
                 })
        {
            var original = File.ReadAllBytes(target);
            // The header and metadata regions are where parsing can go wrong; data bytes only change values.
            int headerSpan = Math.Min(original.Length, 2048);
            var variants = Enumerable.Range(1, 60).Select(i => original[..(i * original.Length / 61)])
                .Concat(Enumerable.Range(0, 300).Select(_ =>
                {
                    var corrupted = (byte[])original.Clone();
                    corrupted[random.Next(headerSpan)] ^= (byte)(1 << random.Next(8));
                    return corrupted;
                }));
            foreach (var bytes in variants)
            {
                File.WriteAllBytes(target, bytes);
                try
                {
                    using var checkpoint = CheckpointLoader.Open(open);
                    checkpoint.ReadAllFloat32();
                }
                catch (InvalidDataException)
                {
                }
            }
            File.WriteAllBytes(target, original);
        }
    }
}
