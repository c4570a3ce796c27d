using LlmFp4.Kit.Models.Loading;
using static LlmFp4.Kit.Tests.Loading.TinyCheckpoints;

namespace LlmFp4.Kit.Tests.Loading;

public class Llama2cTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RoundTripRestoresHfOrder(bool tied)
    {
        using var temp = new TempFolder();
        var config = Config(tied) with { BosTokenId = null, EosTokenId = null };
        var weights = Weights(config);
        string path = temp.File("tiny.bin");
        Llama2cCheckpoint.Save(path, config, weights);

        long floats = LlamaTensorLayout.Expected(config).Sum(e => LlamaTensorLayout.ElementCount(e.Shape))
            + 2L * config.MaxPositionEmbeddings * config.HeadDim / 2;
        Assert.Equal(28 + 4 * floats, new FileInfo(path).Length);

        using var checkpoint = CheckpointLoader.Open(path);
        Assert.Equal(CheckpointFormat.Llama2c, checkpoint.Format);
        Assert.Equal(config, checkpoint.Config with { Architectures = config.Architectures });
        Assert.Equal("wk[1]", checkpoint.Tensors["model.layers.1.self_attn.k_proj.weight"].StoredName);
        AssertSameWeights(weights, checkpoint.ReadAllFloat32());
    }

    [Fact]
    public void HeaderAndRunCOrderAreAsRunCReadsThem()
    {
        using var temp = new TempFolder();
        var config = Config();
        var weights = Weights(config);
        string path = temp.File("tiny.bin");
        Llama2cCheckpoint.Save(path, config, weights);
        var bytes = File.ReadAllBytes(path);
        int[] header = Enumerable.Range(0, 7).Select(i => BitConverter.ToInt32(bytes, 4 * i)).ToArray();
        Assert.Equal([16, 24, 2, 4, 2, -13, 32], header);
        // w1 (gate) of layer 0 follows embedding, 2 rms_att, wq, wk, wv, wo and 2 rms_ffn arrays.
        long w1 = 28 + 4L * (13 * 16 + 2 * 16 + 2 * 16 * 16 + 2 * 8 * 16 + 2 * 8 * 16 + 2 * 16 * 16 + 2 * 16);
        var stored = new float[24 * 16];
        DTypes.ToFloat32(bytes.AsSpan((int)w1, stored.Length * 4), DType.F32, stored);
        Assert.Equal(weights["model.layers.0.mlp.gate_proj.weight"], stored);
    }

    [Fact]
    public void SizeMismatchIsAClearError()
    {
        using var temp = new TempFolder();
        var config = Config();
        string path = temp.File("tiny.bin");
        Llama2cCheckpoint.Save(path, config, Weights(config));
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^4]);
        AssertInvalid(() => CheckpointLoader.Open(path), path, "truncated", "n_kv_heads 2");
        File.WriteAllBytes(path, [.. bytes, 0, 0, 0, 0]);
        AssertInvalid(() => CheckpointLoader.Open(path), path, "trailing data");
    }

    [Fact]
    public void BadHeadersAreRejected()
    {
        using var temp = new TempFolder();
        string path = temp.File("bad.bin");
        File.WriteAllBytes(path, new byte[12]);
        AssertInvalid(() => CheckpointLoader.Open(path), path, "too short");
        File.WriteAllBytes(path, [.. BitConverter.GetBytes(0x616b3432u), .. new byte[252]]);
        AssertInvalid(() => CheckpointLoader.Open(path), path, "version 1/2");
        File.WriteAllBytes(path, [.. new[] { 16, 24, 2, 3, 3, 13, 32 }.SelectMany(BitConverter.GetBytes)]);
        AssertInvalid(() => CheckpointLoader.Open(path), path, "not divisible");
        File.WriteAllBytes(path, [.. new[] { 1 << 30, 1 << 30, 1 << 20, 1 << 20, 1 << 20, 1 << 30, 1 << 20 }.SelectMany(BitConverter.GetBytes)]);
        AssertInvalid(() => CheckpointLoader.Open(path), path, "implies");
    }

    [Fact]
    public void WriterRefusesSettingsRunCCannotHold()
    {
        using var temp = new TempFolder();
        var config = Config() with { RmsNormEps = 1e-6 };
        var ex = Assert.Throws<ArgumentException>(() => Llama2cCheckpoint.Save(temp.File("x.bin"), config, Weights(config)));
        Assert.Contains("rms_norm_eps", ex.Message);
    }
}
