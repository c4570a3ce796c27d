using System.Text.Json.Nodes;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Loading;
using LlmFp4.Kit.Tests.Loading;
using LlmFp4.Kit.Tests.Tokenizers;

namespace LlmFp4.Kit.Tests.Models;

/// <summary>
/// Every field of transformers' LlamaConfig is applied or refused by name. The applied ones (rope_scaling /
/// rope_parameters of types linear, dynamic, llama3 and yarn, head_dim, tie_word_embeddings, token id lists) are
/// checked against an independent PyTorch implementation of transformers' RoPE initialisation and LLaMA forward
/// (tests/golden/make_rope_scaling_golden.py made llama_rope_scaling.json and .bin from the llama_tiny model).
/// </summary>
public class LlamaConfigFieldsTests
{
    private static readonly JsonArray Golden = JsonNode.Parse(File.ReadAllText(RepositoryFiles.Path("tests/golden/llama_rope_scaling.json")))!.AsArray();
    private static readonly string TinyConfig = File.ReadAllText(RepositoryFiles.Path("tests/golden/llama_tiny/config.json"));

    /// <summary>llama_tiny's config.json with <paramref name="fields"/> merged in, as the golden script merges them.</summary>
    private static LlamaConfig Config(JsonNode? fields)
    {
        var json = JsonNode.Parse(TinyConfig)!.AsObject();
        foreach (var (name, value) in fields?.AsObject() ?? [])
            json[name] = value?.DeepClone();
        return LlamaConfig.FromJson(json.ToJsonString(), "config.json");
    }

    private static LlamaConfig Config(string fields) => Config(JsonNode.Parse(fields));

    public static TheoryData<int> Variants()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Golden.Count; i++) data.Add(i);
        return data;
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void FrequenciesAndLogitsMatchPyTorch(int index)
    {
        var golden = Golden[index]!;
        string name = (string)golden["name"]!;
        var config = Config(golden["config"]);

        var (inverse, attention) = RopeScaling.Frequencies(config.HeadDim, config.EffectiveRopeTheta, config.EffectiveRopeScaling, config.MaxPositionEmbeddings);
        float[] expected = [.. golden["inv_freq"]!.AsArray().Select(v => (float)(double)v!)];
        Assert.Equal(expected.Length, inverse.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - inverse[i]) <= 2e-7f * expected[i], $"{name}: inv_freq[{i}] = {inverse[i]:R}, torch {expected[i]:R}");
        Assert.Equal((float)(double)golden["attention_factor"]!, attention, 6);

        int[] ids = [.. golden["ids"]!.AsArray().Select(v => (int)v!)];
        Dictionary<string, float[]> weights;
        using (var checkpoint = CheckpointLoader.Open(RepositoryFiles.Path("tests/golden/llama_tiny"))) weights = new(checkpoint.ReadAllFloat32());
        var model = new LlamaModel(config, weights);
        float[] logits = model.Logits([ids])[0];
        var torch = new float[logits.Length];
        using (var stream = File.OpenRead(RepositoryFiles.Path("tests/golden/llama_rope_scaling.bin")))
        {
            stream.Position = 4L * (int)golden["logits_offset"]!;
            using var reader = new BinaryReader(stream);
            for (int i = 0; i < torch.Length; i++) torch[i] = reader.ReadSingle();
        }
        float worst = torch.Zip(logits, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(worst <= 1e-4f, $"{name}: max |logit − torch| = {worst:E2}");

        var cache = model.CreateCache();
        var decoded = new float[model.VocabSize];
        foreach (int position in Enumerable.Range(0, ids.Length))
            model.Decode(ids.AsSpan(position, 1), cache, decoded);
        Assert.True(torch.AsSpan((ids.Length - 1) * model.VocabSize).ToArray().Zip(decoded, (a, b) => Math.Abs(a - b)).Max() <= 1e-4f, $"{name}: KV-cache decoding");
    }

    /// <summary>The Llama 3.1 fields: an eos_token_id list loads, and rope_scaling llama3 changes the logits.</summary>
    [Fact]
    public void Llama31FieldsLoadAndTheRopeScalingIsApplied()
    {
        var config = Config("""
            {"eos_token_id": [128001, 128008, 128009], "bos_token_id": 128000,
             "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
             "rope_theta": 500000.0}
            """);
        Assert.Equal([128001, 128008, 128009], config.EosTokenId!.Ids);
        Assert.True(config.EosTokenId.Contains(128009));
        Assert.Equal(128000, config.BosTokenId!.First);
        Assert.Equal("[128001,128008,128009]", JsonNode.Parse(config.ToJson())!["eos_token_id"]!.ToJsonString());
        Assert.Equal("128000", JsonNode.Parse(config.ToJson())!["bos_token_id"]!.ToJsonString());
        Assert.Equal(config, LlamaConfig.FromJson(config.ToJson()) with { Architectures = config.Architectures });

        var scaled = LlamaModel.CreateRandom(config, seed: 3, std: 0.3f);
        var plain = LlamaModel.CreateRandom(config with { RopeScaling = null }, seed: 3, std: 0.3f);
        int[] ids = [5, 9, 1, 4, 7, 7, 2, 8];
        Assert.NotEqual(plain.Logits([ids])[0], scaled.Logits([ids])[0]);
    }

    [Theory]
    [InlineData("""{"attention_bias": true}""", "attention_bias = true")]
    [InlineData("""{"mlp_bias": true}""", "mlp_bias = true")]
    [InlineData("""{"head_dim": 8}""", "head_dim 8 differs from hidden_size / num_attention_heads = 16")]
    [InlineData("""{"rope_scaling": {"rope_type": "longrope", "short_factor": [1], "long_factor": [1]}}""", "rope_scaling.rope_type 'longrope' is not supported")]
    [InlineData("""{"rope_scaling": {"rope_type": "llama3", "factor": 8.0}}""", "rope_scaling.low_freq_factor is required for rope_type 'llama3'")]
    [InlineData("""{"rope_scaling": {"rope_type": "linear", "factor": 2.0, "low_freq_factor": 1.0}}""", "rope_scaling.low_freq_factor is not a key of rope_type 'linear'")]
    [InlineData("""{"rope_scaling": {"rope_type": "linear", "factor": "2"}}""", "rope_scaling.factor must be a non-negative number")]
    [InlineData("""{"sliding_window": 4096}""", "field sliding_window = 4096 is not supported")]
    [InlineData("""{"quantization_config": {"quant_method": "gptq", "bits": 4}}""", "field quantization_config = {")]
    [InlineData("""{"partial_rotary_factor": 0.5}""", "field partial_rotary_factor = 0.5 is not supported")]
    [InlineData("""{"add_cross_attention": true}""", "field add_cross_attention = true is not supported")]
    [InlineData("""{"eos_token_id": "2"}""", "token id must be an integer or a list")]
    [InlineData("""{"eos_token_id": []}""", "token id list must not be empty")]
    public void FieldsThatWouldChangeTheComputationAreRefusedByName(string fields, string message)
    {
        var error = Assert.Throws<InvalidDataException>(() => Config(fields));
        Assert.StartsWith("config.json: ", error.Message);
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void FieldsWithoutEffectAreAccepted()
    {
        var config = Config("""
            {"initializer_range": 0.02, "use_cache": false, "attention_dropout": 0.0, "pretraining_tp": 1, "transformers_version": "4.45.0",
             "pad_token_id": null, "partial_rotary_factor": 1.0, "add_cross_attention": false, "pruned_heads": {}, "temperature": 0.6,
             "rope_scaling": {"type": "yarn", "factor": 2.0, "original_max_position_embeddings": 32, "finetuned": true}, "head_dim": 16}
            """);
        Assert.Equal("yarn", config.EffectiveRopeScaling!.RopeType);
        Assert.Equal(16, config.HeadDim);
    }

    /// <summary>Generation stops at any id of the config's eos_token_id list, not only at the tokenizer's EOS.</summary>
    [Fact]
    public void GenerationStopsAtAnyEosOfTheConfig()
    {
        var tokenizer = new LlmFp4.Kit.Tests.Evaluation.CharTokenizer();
        var config = LlamaModelTests.TinyConfig(tied: false) with { VocabSize = 130 };
        var model = LlamaModel.CreateRandom(config, seed: 6, std: 0.4f);
        var free = new TextGenerator(model, tokenizer).GenerateIds([65, 66], GenerationSettings.Greedy(12)).ToArray();
        int stop = free[3];
        var stopping = LlamaModel.CreateRandom(config with { EosTokenId = TokenIds.List(999, stop) }, seed: 6, std: 0.4f);
        Assert.Equal(free.TakeWhile(id => id != stop), new TextGenerator(stopping, tokenizer).GenerateIds([65, 66], GenerationSettings.Greedy(12)));
    }

    [Fact]
    public void GgufRopeScalingIsRefusedByName()
    {
        using var temp = new TempFolder();
        var config = TinyCheckpoints.Config();
        var weights = TinyCheckpoints.Weights(config);
        string path = temp.File("scaled.gguf");
        string full = temp.File("full.gguf");
        GgufWriter.SaveLlama(full, config, weights);
        var gguf = GgufFile.Read(full);
        var writer = new GgufWriter();
        foreach (var (key, value) in gguf.Metadata) writer.AddMetadata(key, value);
        foreach (var (name, shape) in LlamaTensorLayout.Expected(config))
            writer.AddTensor(new TensorToWrite(GgufCheckpoint.ToGgufName(name), shape, weights[name], DType.F32));
        writer.AddTensor(new TensorToWrite("rope_freqs.weight", [config.HeadDim / 2], Enumerable.Repeat(1f, config.HeadDim / 2).ToArray(), DType.F32));
        writer.Save(path);
        TinyCheckpoints.AssertInvalid(() => CheckpointLoader.Open(path), path, "tensor rope_freqs.weight");

        writer = new GgufWriter();
        foreach (var (key, value) in gguf.Metadata) writer.AddMetadata(key, value);
        writer.AddMetadata("llama.rope.scaling.type", "linear");
        writer.Save(path);
        TinyCheckpoints.AssertInvalid(() => CheckpointLoader.Open(path), path, "llama.rope.scaling.type 'linear' is not supported");
    }
}
