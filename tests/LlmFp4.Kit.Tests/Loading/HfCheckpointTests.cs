using System.Text.Json;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Loading;
using static LlmFp4.Kit.Tests.Loading.TinyCheckpoints;

namespace LlmFp4.Kit.Tests.Loading;

public class HfCheckpointTests
{
    [Theory]
    [InlineData(DType.F32, false)]
    [InlineData(DType.F16, false)]
    [InlineData(DType.BF16, true)]
    public void SavedFolderLoadsBack(DType dtype, bool tied)
    {
        using var temp = new TempFolder();
        var config = Config(tied);
        var weights = Weights(config);
        HfCheckpointWriter.Save(temp.Path, config, weights, dtype);

        using var checkpoint = CheckpointLoader.Open(temp.Path);
        Assert.Equal(CheckpointFormat.HuggingFace, checkpoint.Format);
        Assert.Equal(config with { TorchDtype = dtype.TorchName() }, checkpoint.Config with { Architectures = config.Architectures });
        Assert.Equal(tied, !checkpoint.Tensors.ContainsKey(LlamaTensorLayout.LmHead));
        var q = checkpoint.Tensors["model.layers.1.self_attn.k_proj.weight"];
        Assert.Equal([8, 16], q.Shape);
        Assert.Equal(dtype, q.DType);
        Assert.Equal(0, q.InterleavedRopeHeads);
        AssertSameWeights(weights, checkpoint.ReadAllFloat32(), dtype);

        var span = new float[q.ElementCount];
        checkpoint.ReadFloat32(q.Name, span);
        Assert.Equal(Rounded(weights[q.Name], dtype), span);
        Assert.Throws<ArgumentException>(() => checkpoint.ReadFloat32(q.Name, new float[3]));
        Assert.Throws<KeyNotFoundException>(() => checkpoint.ReadFloat32("model.nope.weight"));
    }

    [Fact]
    public void ReadingAfterDisposeThrows()
    {
        using var temp = new TempFolder();
        var config = Config();
        HfCheckpointWriter.Save(temp.Path, config, Weights(config));
        var checkpoint = CheckpointLoader.Open(temp.Path);
        checkpoint.Dispose();
        Assert.Throws<ObjectDisposedException>(() => checkpoint.ReadFloat32(LlamaTensorLayout.FinalNorm));
    }

    [Fact]
    public void ShardedIndexIsFollowed()
    {
        using var temp = new TempFolder();
        var config = Config();
        var weights = Weights(config);
        var expected = LlamaTensorLayout.Expected(config);
        // Layer 0 and the embedding in one shard, the rest in another; a stray copy of a tensor in the wrong
        // shard must be ignored because the index points elsewhere.
        var first = expected.Where(e => e.Name.StartsWith("model.layers.0.") || e.Name == LlamaTensorLayout.Embedding).ToList();
        var second = expected.Except(first).ToList();
        SafeTensorsWriter.Write(temp.File("model-00001-of-00002.safetensors"),
            first.Select(e => new TensorToWrite(e.Name, e.Shape, weights[e.Name], DType.BF16)));
        SafeTensorsWriter.Write(temp.File("model-00002-of-00002.safetensors"),
            second.Select(e => new TensorToWrite(e.Name, e.Shape, weights[e.Name], DType.BF16))
                .Append(new TensorToWrite(LlamaTensorLayout.Embedding, [config.VocabSize, config.HiddenSize], new float[config.VocabSize * config.HiddenSize], DType.F32)));
        var map = first.ToDictionary(e => e.Name, _ => "model-00001-of-00002.safetensors");
        foreach (var e in second) map[e.Name] = "model-00002-of-00002.safetensors";
        File.WriteAllText(temp.File(HfCheckpoint.IndexFile), JsonSerializer.Serialize(new { metadata = new { total_size = 0 }, weight_map = map }));
        File.WriteAllText(temp.File(HfCheckpoint.ConfigFile), config.ToJson());

        using var checkpoint = CheckpointLoader.Open(temp.Path);
        Assert.EndsWith("model-00002-of-00002.safetensors", checkpoint.Tensors[LlamaTensorLayout.FinalNorm].File);
        AssertSameWeights(weights, checkpoint.ReadAllFloat32(), DType.BF16);
    }

    [Fact]
    public void IndexPointingOutsideTheFolderIsRejected()
    {
        using var temp = new TempFolder();
        File.WriteAllText(temp.File(HfCheckpoint.ConfigFile), Config().ToJson());
        File.WriteAllText(temp.File(HfCheckpoint.IndexFile), "{\"weight_map\": {\"model.norm.weight\": \"../evil.safetensors\"}}");
        AssertInvalid(() => CheckpointLoader.Open(temp.Path), "model.norm.weight", "not a file name");
    }

    [Fact]
    public void MissingTensorNamesTensorAndFile()
    {
        using var temp = new TempFolder();
        var config = Config();
        var weights = Weights(config);
        SafeTensorsWriter.Write(temp.File(HfCheckpoint.WeightsFile), LlamaTensorLayout.Expected(config)
            .Where(e => e.Name != "model.layers.1.mlp.up_proj.weight")
            .Select(e => new TensorToWrite(e.Name, e.Shape, weights[e.Name], DType.F32)));
        File.WriteAllText(temp.File(HfCheckpoint.ConfigFile), config.ToJson());
        AssertInvalid(() => CheckpointLoader.Open(temp.Path), "missing tensor model.layers.1.mlp.up_proj.weight", HfCheckpoint.WeightsFile);
    }

    [Fact]
    public void WrongShapeNamesTensorShapesAndFile()
    {
        using var temp = new TempFolder();
        var config = Config();
        var weights = Weights(config);
        SafeTensorsWriter.Write(temp.File(HfCheckpoint.WeightsFile), LlamaTensorLayout.Expected(config)
            .Select(e => e.Name == "model.layers.0.mlp.down_proj.weight"
                ? new TensorToWrite(e.Name, [e.Shape[1], e.Shape[0]], weights[e.Name], DType.F32)
                : new TensorToWrite(e.Name, e.Shape, weights[e.Name], DType.F32)));
        File.WriteAllText(temp.File(HfCheckpoint.ConfigFile), config.ToJson());
        AssertInvalid(() => CheckpointLoader.Open(temp.Path),
            temp.File(HfCheckpoint.WeightsFile), "model.layers.0.mlp.down_proj.weight", "shape [24, 16]", "expected [16, 24]");
        // A config that disagrees with every weight fails on the first tensor, the embedding.
        File.WriteAllText(temp.File(HfCheckpoint.ConfigFile), (config with { VocabSize = 99 }).ToJson());
        AssertInvalid(() => CheckpointLoader.Open(temp.Path), "model.embed_tokens.weight", "shape [13, 16]", "expected [99, 16]");
    }

    [Fact]
    public void UnsupportedDtypeOfANeededTensorIsNamed()
    {
        using var temp = new TempFolder();
        var config = Config(tied: true);
        var weights = Weights(config);
        SafeTensorsWriter.Write(temp.File(HfCheckpoint.WeightsFile), LlamaTensorLayout.Expected(config)
            .Select(e => new TensorToWrite(e.Name, e.Shape, weights[e.Name], DType.F32)));
        // Re-label one tensor as I32 of the same byte size.
        string path = temp.File(HfCheckpoint.WeightsFile);
        var bytes = File.ReadAllBytes(path);
        var text = System.Text.Encoding.ASCII.GetString(bytes);
        int at = text.IndexOf("\"model.norm.weight\":{\"dtype\":\"F32\"", StringComparison.Ordinal);
        Assert.True(at > 0);
        int dtypeAt = text.IndexOf("F32", at, StringComparison.Ordinal);
        bytes[dtypeAt] = (byte)'I';
        File.WriteAllBytes(path, bytes);
        File.WriteAllText(temp.File(HfCheckpoint.ConfigFile), config.ToJson());
        AssertInvalid(() => CheckpointLoader.Open(temp.Path), path, "model.norm.weight", "dtype I32");
    }

    [Fact]
    public void FolderWithoutConfigOrWeightsIsRejected()
    {
        using var temp = new TempFolder();
        var ex = Assert.Throws<FileNotFoundException>(() => CheckpointLoader.Open(temp.Path));
        Assert.Contains("config.json", ex.Message);
        File.WriteAllText(temp.File(HfCheckpoint.ConfigFile), Config().ToJson());
        ex = Assert.Throws<FileNotFoundException>(() => CheckpointLoader.Open(temp.Path));
        Assert.Contains(HfCheckpoint.IndexFile, ex.Message);
        File.WriteAllText(temp.File(HfCheckpoint.ConfigFile), "{\"vocab_size\": ");
        AssertInvalid(() => CheckpointLoader.Open(temp.Path), "config.json");
    }

    [Fact]
    public void WriterRejectsWeightsThatDoNotFitTheConfig()
    {
        using var temp = new TempFolder();
        var config = Config(tied: true);
        var weights = Weights(config);
        weights[LlamaTensorLayout.LmHead] = new float[config.VocabSize * config.HiddenSize];
        var ex = Assert.Throws<ArgumentException>(() => HfCheckpointWriter.Save(temp.Path, config, weights));
        Assert.Contains("lm_head.weight", ex.Message);
        weights.Remove(LlamaTensorLayout.LmHead);
        weights[LlamaTensorLayout.FinalNorm] = new float[3];
        ex = Assert.Throws<ArgumentException>(() => HfCheckpointWriter.Save(temp.Path, config, weights));
        Assert.Contains("model.norm.weight", ex.Message);
        Assert.Empty(Directory.GetFiles(temp.Path));
    }
}
