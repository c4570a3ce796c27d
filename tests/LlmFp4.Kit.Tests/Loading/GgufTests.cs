using LlmFp4.Kit.Models.Loading;
using LlmFp4.Kit.Models.Tokenizers;
using static LlmFp4.Kit.Tests.Loading.TinyCheckpoints;

namespace LlmFp4.Kit.Tests.Loading;

public class GgufTests
{
    [Fact]
    public void MetadataOfEveryTypeRoundTrips()
    {
        using var temp = new TempFolder();
        var values = new Dictionary<string, object>
        {
            ["u8"] = (byte)200, ["i8"] = (sbyte)-100, ["u16"] = (ushort)60000, ["i16"] = (short)-30000,
            ["u32"] = 4_000_000_000u, ["i32"] = -2_000_000_000, ["f32"] = 1.5f, ["bool"] = true,
            ["string"] = "héllo ▁world", ["u64"] = ulong.MaxValue, ["i64"] = long.MinValue, ["f64"] = Math.PI,
            ["tokens"] = new[] { "<s>", "</s>", "▁a", "" }, ["scores"] = new[] { 0f, -1.5f }, ["empty"] = Array.Empty<int>(),
            ["nested"] = new[] { new[] { 1L, 2L }, new[] { 3L } }, ["flags"] = new[] { true, false },
        };
        var writer = new GgufWriter();
        foreach (var (key, value) in values) writer.AddMetadata(key, value);
        writer.AddTensor(new TensorToWrite("t", [2, 3], new float[] { 1, 2, 3, 4, 5, 6 }, DType.F16));
        string path = temp.File("m.gguf");
        writer.Save(path);

        var gguf = GgufFile.Read(path);
        Assert.Equal(3u, gguf.Version);
        Assert.Equal(values.Keys, gguf.Metadata.Keys);
        foreach (var (key, value) in values)
        {
            if (key == "nested")
            {
                var nested = Assert.IsType<object[]>(gguf.Metadata[key]);
                Assert.Equal([1L, 2L], Assert.IsType<long[]>(nested[0]));
                Assert.Equal([3L], Assert.IsType<long[]>(nested[1]));
            }
            else Assert.Equal(value, gguf.Metadata[key]);
        }
        var tensor = Assert.Single(gguf.Tensors);
        Assert.Equal([3UL, 2UL], tensor.Dimensions);
        Assert.Equal([2L, 3L], tensor.Shape);
        Assert.Equal(GgmlType.F16, tensor.Type);
        Assert.Equal(0, tensor.Offset % 32);
    }

    [Theory]
    [InlineData(DType.F32, false)]
    [InlineData(DType.F16, true)]
    [InlineData(DType.BF16, false)]
    public void LlamaRoundTripUndoesTheRopePermutation(DType dtype, bool tied)
    {
        using var temp = new TempFolder();
        var config = Config(tied);
        var weights = Weights(config);
        string path = temp.File("tiny.gguf");
        GgufWriter.SaveLlama(path, config, weights, dtype);

        using var checkpoint = CheckpointLoader.Open(path);
        Assert.Equal(CheckpointFormat.Gguf, checkpoint.Format);
        Assert.Equal(config, checkpoint.Config with { Architectures = config.Architectures });
        var k = checkpoint.Tensors["model.layers.0.self_attn.k_proj.weight"];
        Assert.Equal("blk.0.attn_k.weight", k.StoredName);
        Assert.Equal(config.KeyValueHeads, k.InterleavedRopeHeads);
        Assert.Equal(config.NumAttentionHeads, checkpoint.Tensors["model.layers.0.self_attn.q_proj.weight"].InterleavedRopeHeads);
        AssertSameWeights(weights, checkpoint.ReadAllFloat32(), dtype, gguf: true);
        Assert.Equal(DType.F32, checkpoint.Tensors["model.layers.0.input_layernorm.weight"].DType);
    }

    [Fact]
    public void ByteLevelBpeTokenizerIsWrittenAsLlamaCppReadsIt()
    {
        using var temp = new TempFolder();
        var tokenizer = BpeTokenizer.Parse(BpeTrainer.Train(["lowest newest widest lowest"], new BpeTrainerSettings(VocabSize: 257 + 5)), "trained");
        var config = Config() with { VocabSize = tokenizer.VocabSize };
        string path = temp.File("tokenized.gguf");
        GgufWriter.SaveLlama(path, config, Weights(config), DType.F32, tokenizer);

        var metadata = GgufFile.Read(path).Metadata;
        Assert.Equal("gpt2", metadata["tokenizer.ggml.model"]);
        Assert.Equal("gpt-2", metadata["tokenizer.ggml.pre"]);
        var tokens = (string[])metadata["tokenizer.ggml.tokens"];
        Assert.Equal(Enumerable.Range(0, tokenizer.VocabSize).Select(tokenizer.IdToToken), tokens);
        Assert.Equal("<|endoftext|>", tokens[0]);
        var types = (int[])metadata["tokenizer.ggml.token_type"];
        Assert.Equal(3, types[0]);
        Assert.All(types[1..], type => Assert.Equal(1, type));
        var merges = (string[])metadata["tokenizer.ggml.merges"];
        Assert.Equal(5, merges.Length);
        Assert.All(merges, merge => Assert.Contains(string.Concat(merge.Split(' ')), tokens));
        Assert.Equal(false, metadata["tokenizer.ggml.add_bos_token"]);
        Assert.Throws<ArgumentException>(() => GgufWriter.SaveLlama(temp.File("bad.gguf"), Config(), Weights(Config()), DType.F32, tokenizer));
    }

    [Fact]
    public void Q4_0BlocksMatchGgmlsReferenceRounding()
    {
        // Largest magnitude −8 ⇒ d = −8 / −8 = 1; code = trunc(x/d + 8.5): −8 → 0, 7 → 15, 0.5 → 9. Byte j: code j | code j+16 << 4.
        var block = new float[32];
        for (int j = 0; j < 16; j++) (block[j], block[16 + j]) = (j - 8, 0.5f);
        byte[] encoded = GgufWriter.EncodeQ4_0(block);
        Assert.Equal(18, encoded.Length);
        Assert.Equal((Half)1, BitConverter.ToHalf(encoded, 0));
        Assert.Equal(Enumerable.Range(0, 16).Select(j => (byte)(j | 9 << 4)), encoded[2..]);
        Assert.Throws<ArgumentException>(() => GgufWriter.EncodeQ4_0(new float[33]));
    }

    [Fact]
    public void StoredQAndKAreInLlamaCppOrder()
    {
        // An independent check of the stored layout: GGUF row 2j+s of head h is HF row s*d/2+j.
        using var temp = new TempFolder();
        var config = Config();
        var weights = Weights(config);
        string path = temp.File("tiny.gguf");
        GgufWriter.SaveLlama(path, config, weights);
        var gguf = GgufFile.Read(path);
        var info = gguf.Tensors.Single(t => t.Name == "blk.1.attn_q.weight");
        Assert.Equal([(ulong)config.HiddenSize, (ulong)config.HiddenSize], info.Dimensions);
        var stored = new float[config.HiddenSize * config.HiddenSize];
        DTypes.ToFloat32(File.ReadAllBytes(path).AsSpan((int)info.Offset, stored.Length * 4), DType.F32, stored);
        var hf = weights["model.layers.1.self_attn.q_proj.weight"];
        int d = config.HeadDim, columns = config.HiddenSize;
        for (int h = 0; h < config.NumAttentionHeads; h++)
            for (int j = 0; j < d / 2; j++)
                for (int s = 0; s < 2; s++)
                    Assert.Equal(hf.AsSpan((h * d + s * d / 2 + j) * columns, columns), stored.AsSpan((h * d + 2 * j + s) * columns, columns));
    }

    [Fact]
    public void VocabularyComesFromTheTokenList()
    {
        using var temp = new TempFolder();
        var config = Config();
        var weights = Weights(config);
        var writer = LlamaWriterWithout(config, weights, "llama.vocab_size");
        writer.AddMetadata("tokenizer.ggml.tokens", Enumerable.Range(0, config.VocabSize).Select(i => $"t{i}").ToArray());
        string path = temp.File("v.gguf");
        writer.Save(path);
        using var checkpoint = CheckpointLoader.Open(path);
        Assert.Equal(config.VocabSize, checkpoint.Config.VocabSize);
    }

    [Fact]
    public void CustomAlignmentIsHonoured()
    {
        using var temp = new TempFolder();
        var writer = new GgufWriter();
        writer.AddMetadata(GgufFile.AlignmentKey, 64u);
        writer.AddTensor(new TensorToWrite("a", [3], new float[] { 1, 2, 3 }, DType.F32));
        writer.AddTensor(new TensorToWrite("b", [5], new float[] { 4, 5, 6, 7, 8 }, DType.BF16));
        string path = temp.File("a.gguf");
        writer.Save(path);
        var gguf = GgufFile.Read(path);
        Assert.Equal(64u, gguf.Alignment);
        Assert.All(gguf.Tensors, t => Assert.Equal(0, t.Offset % 64));
        Assert.Equal(64, gguf.Tensors[1].Offset - gguf.Tensors[0].Offset);
    }

    [Fact]
    public void QuantizedTensorIsAClearError()
    {
        using var temp = new TempFolder();
        var config = Config() with { HiddenSize = 32 };
        var weights = Weights(config);
        var writer = LlamaWriterWithout(config, weights, skipTensor: "blk.1.attn_v.weight");
        // Q4_0 packs 32 weights in 18 bytes.
        writer.AddEncodedTensor("blk.1.attn_v.weight", [16, 32], GgmlType.Q4_0, new byte[16 * 32 / 32 * 18]);
        string path = temp.File("q.gguf");
        writer.Save(path);
        AssertInvalid(() => CheckpointLoader.Open(path), path, "unsupported tensor type Q4_0 for tensor blk.1.attn_v.weight");
    }

    [Fact]
    public void MissingTensorAndMetadataAreNamed()
    {
        using var temp = new TempFolder();
        var config = Config();
        var weights = Weights(config);
        string path = temp.File("m.gguf");
        LlamaWriterWithout(config, weights, skipTensor: "blk.0.ffn_gate.weight").Save(path);
        AssertInvalid(() => CheckpointLoader.Open(path), "missing tensor model.layers.0.mlp.gate_proj.weight", "blk.0.ffn_gate.weight");
        LlamaWriterWithout(config, weights, "llama.block_count").Save(path);
        AssertInvalid(() => CheckpointLoader.Open(path), path, "missing metadata llama.block_count");
    }

    [Fact]
    public void OtherArchitecturesAreRejected()
    {
        using var temp = new TempFolder();
        var writer = new GgufWriter();
        writer.AddMetadata("general.architecture", "falcon");
        string path = temp.File("f.gguf");
        writer.Save(path);
        AssertInvalid(() => CheckpointLoader.Open(path), path, "architecture 'falcon'");
    }

    [Fact]
    public void WrongMagicAndVersionAreRejected()
    {
        using var temp = new TempFolder();
        var config = Config();
        string path = temp.File("x.gguf");
        GgufWriter.SaveLlama(path, config, Weights(config));
        var bytes = File.ReadAllBytes(path);

        var badMagic = (byte[])bytes.Clone();
        badMagic[0] = (byte)'X';
        File.WriteAllBytes(path, badMagic);
        AssertInvalid(() => CheckpointLoader.Open(path), path, "wrong magic");

        foreach (uint version in new uint[] { 1, 4, 0x03000000 })
        {
            var badVersion = (byte[])bytes.Clone();
            BitConverter.TryWriteBytes(badVersion.AsSpan(4), version);
            File.WriteAllBytes(path, badVersion);
            AssertInvalid(() => CheckpointLoader.Open(path), path, $"unsupported GGUF version {version}");
        }
    }

    [Fact]
    public void TruncatedFileNamesTheTensor()
    {
        using var temp = new TempFolder();
        var config = Config();
        string path = temp.File("t.gguf");
        GgufWriter.SaveLlama(path, config, Weights(config));
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^10]);
        AssertInvalid(() => CheckpointLoader.Open(path), path, "tensor output.weight", "truncated");
    }

    [Fact]
    public void OverlappingTensorsAreRejected()
    {
        using var temp = new TempFolder();
        var writer = new GgufWriter();
        writer.AddTensor(new TensorToWrite("a", [8], new float[8], DType.F32));
        writer.AddTensor(new TensorToWrite("b", [8], new float[8], DType.F32));
        string path = temp.File("o.gguf");
        writer.Save(path);
        var bytes = File.ReadAllBytes(path);
        // Tensor b's offset field is the last 8 bytes of its info; point it at tensor a.
        int bInfoEnd = IndexOf(bytes, "b"u8.ToArray()) + 1 + 4 + 8 + 4;
        BitConverter.TryWriteBytes(bytes.AsSpan(bInfoEnd), 0UL);
        File.WriteAllBytes(path, bytes);
        AssertInvalid(() => GgufFile.Read(path), path, "tensor b has data offset 0, expected 32", "in info order");
    }

    /// <summary>
    /// What llama.cpp's reader (ggml/src/gguf.cpp) loads, the kit loads: tensors the model does not use may be empty
    /// (a dimension of 0), scalars (no dimension) or quantized, and a bool is any byte.
    /// </summary>
    [Fact]
    public void FilesLlamaCppLoadsAreRead()
    {
        using var temp = new TempFolder();
        var config = Config();
        var weights = Weights(config);
        var writer = LlamaWriterWithout(config, weights);
        writer.AddTensor(new TensorToWrite("unused.empty", [0, 16], Array.Empty<float>(), DType.F32));
        writer.AddTensor(new TensorToWrite("unused.scalar", [], new float[] { 2.5f }, DType.F32));
        writer.AddTensor(new TensorToWrite("unused.empty3", [3, 0, 5], Array.Empty<float>(), DType.F16));
        writer.AddEncodedTensor("unused.q8", [2, 32], GgmlType.Q8_0, new byte[2 * 34]);
        writer.AddTensor(new TensorToWrite("unused.last", [3], new float[] { 1, 2, 3 }, DType.F32));
        string path = temp.File("extra.gguf");
        writer.Save(path);

        var gguf = GgufFile.Read(path);
        var empty = gguf.Tensors.Single(t => t.Name == "unused.empty");
        Assert.Equal([16UL, 0UL], empty.Dimensions);
        Assert.Equal(0L, empty.ByteLength);
        var scalar = gguf.Tensors.Single(t => t.Name == "unused.scalar");
        Assert.Equal((0, 4L), (scalar.Dimensions.Length, scalar.ByteLength));
        Assert.Equal(68L, gguf.Tensors.Single(t => t.Name == "unused.q8").ByteLength);
        var last = gguf.Tensors.Single(t => t.Name == "unused.last");
        Assert.Equal([1f, 2f, 3f], Floats(File.ReadAllBytes(path).AsSpan((int)last.Offset, 12)));
        using var checkpoint = CheckpointLoader.Open(path);
        AssertSameWeights(weights, checkpoint.ReadAllFloat32());

        string flags = temp.File("bool.gguf");
        File.WriteAllBytes(flags, RawGguf(("general.flag", GgufValueType.Bool, [2])));
        Assert.Equal(true, GgufFile.Read(flags).Metadata["general.flag"]);
    }

    private static float[] Floats(ReadOnlySpan<byte> bytes)
    {
        var values = new float[bytes.Length / 4];
        DTypes.ToFloat32(bytes, DType.F32, values);
        return values;
    }

    /// <summary>What llama.cpp's reader refuses, the kit refuses, naming the key or tensor.</summary>
    [Fact]
    public void FilesLlamaCppRefusesAreRefused()
    {
        using var temp = new TempFolder();
        string path = temp.File("bad.gguf");

        File.WriteAllBytes(path, RawGguf(("general.name", GgufValueType.String, [0, 0, 0, 0, 0, 0, 0, 0]), ("", GgufValueType.UInt32, [7, 0, 0, 0])));
        AssertInvalid(() => GgufFile.Read(path), path, "metadata key #1 is empty");

        void Refused(string name, int[] shape, GgmlType type, int bytes, params string[] fragments)
        {
            var writer = new GgufWriter();
            writer.AddEncodedTensor(name, shape, type, new byte[bytes]);
            writer.Save(path);
            AssertInvalid(() => GgufFile.Read(path), [path, .. fragments]);
        }
        Refused(new string('n', 64), [4], GgmlType.F32, 16, "longer than ggml's 63 bytes");
        Refused("q", [2, 16], GgmlType.Q4_0, 36, "tensor q of type Q4_0 has 16 elements per row, not a multiple of its block of 32");
        Refused("gone", [4], (GgmlType)4, 16, "tensor gone has ggml type #4, which ggml does not define");
        Refused("future", [4], (GgmlType)99, 16, "tensor future has ggml type #99");
        Refused("cut", [2, 32], GgmlType.Q8_0, 40, "tensor cut needs bytes", "truncated");

        // A 63-byte name is within ggml's limit.
        var fits = new GgufWriter();
        fits.AddTensor(new TensorToWrite(new string('n', 63), [1], new float[] { 1 }, DType.F32));
        fits.Save(path);
        Assert.Equal(63, Assert.Single(GgufFile.Read(path).Tensors).Name.Length);
        Assert.Throws<ArgumentException>(() => new GgufWriter().AddMetadata("", 1u));
    }

    /// <summary>A GGUF v3 file with no tensors and the given metadata, each value given as its raw bytes.</summary>
    private static byte[] RawGguf(params (string Key, GgufValueType Type, byte[] Value)[] metadata)
    {
        using var stream = new MemoryStream();
        using var writer = new BinaryWriter(stream);
        writer.Write(GgufFile.Magic);
        writer.Write(3u);
        writer.Write(0UL);
        writer.Write((ulong)metadata.Length);
        foreach (var (key, type, value) in metadata)
        {
            writer.Write((ulong)System.Text.Encoding.UTF8.GetByteCount(key));
            writer.Write(System.Text.Encoding.UTF8.GetBytes(key));
            writer.Write((uint)type);
            writer.Write(value);
        }
        writer.Flush();
        return stream.ToArray();
    }

    private static int IndexOf(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle);

    /// <summary>The writer <see cref="GgufWriter.SaveLlama"/> would use, less one metadata key or one tensor.</summary>
    private static GgufWriter LlamaWriterWithout(LlmFp4.Kit.Models.LlamaConfig config, Dictionary<string, float[]> weights,
        string? skipKey = null, string? skipTensor = null)
    {
        using var temp = new TempFolder();
        string full = temp.File("full.gguf");
        GgufWriter.SaveLlama(full, config, weights);
        var gguf = GgufFile.Read(full);
        var writer = new GgufWriter();
        foreach (var (key, value) in gguf.Metadata.Where(m => m.Key != skipKey)) writer.AddMetadata(key, value);
        var bytes = File.ReadAllBytes(full);
        foreach (var tensor in gguf.Tensors.Where(t => t.Name != skipTensor))
        {
            var values = new float[tensor.Shape.Aggregate(1L, (p, d) => p * d)];
            DTypes.ToFloat32(bytes.AsSpan((int)tensor.Offset, values.Length * 4), DType.F32, values);
            writer.AddTensor(new TensorToWrite(tensor.Name, tensor.Shape.Select(d => (int)d).ToArray(), values, DType.F32));
        }
        return writer;
    }
}
