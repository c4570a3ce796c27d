using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Quantization;
using static LlmFp4.Kit.Tests.Models.LlamaModelTests;

namespace LlmFp4.Kit.Tests.Models;

public class GenerationTests
{
    /// <summary>Token i is the character '!' + i; the last id is the end-of-sequence token.</summary>
    private sealed class PrintableTokenizer(int vocab) : ITokenizer
    {
        public int VocabSize => vocab;
        public int? BosTokenId => null;
        public int? EosTokenId => vocab - 1;
        public int[] Encode(string text) => [.. text.Select(c => c - '!')];
        public string Decode(ReadOnlySpan<int> ids) => new([.. ids.ToArray().Select(i => (char)('!' + i))]);
    }

    private static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string where)
    {
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5f, $"{where}, logit {i}: {actual[i]} vs full forward {expected[i]}");
    }

    /// <summary>Prefill in two chunks, then one token at a time, against the rows of one full forward.</summary>
    private static void AssertDecodeMatchesForward(LlamaModel model)
    {
        int[] tokens = RandomTokens(model.ContextLength, model.VocabSize, 5);
        float[] full = model.Logits([tokens])[0];
        int vocab = model.VocabSize;
        var cache = model.CreateCache();
        var logits = new float[vocab];
        model.Decode(tokens.AsSpan(0, 7), cache, logits);
        AssertClose(full.AsSpan(6 * vocab, vocab), logits, "prefill of 7");
        model.Decode(tokens.AsSpan(7, 5), cache, logits);
        AssertClose(full.AsSpan(11 * vocab, vocab), logits, "second chunk of 5");
        for (int t = 12; t < tokens.Length; t++)
        {
            model.Decode(tokens.AsSpan(t, 1), cache, logits);
            AssertClose(full.AsSpan(t * vocab, vocab), logits, $"position {t}");
        }
        Assert.Equal(tokens.Length, cache.Length);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void IncrementalDecodingGivesTheFullForwardLogits(bool tied) => AssertDecodeMatchesForward(TinyModel(tied));

    [Fact]
    public void IncrementalDecodingMatchesWithEveryQuantizationPointOn()
    {
        var model = TinyModel(tied: false);
        foreach (var linear in model.Linears) linear.InputQuantizer = FpQuantizer.PerTensor(FpFormat.E2M1, bias: 1);
        foreach (var layer in model.Layers)
        {
            layer.QueryMatMul.Quantizer = new DynamicIntQuantizer(IntFormat.Int8);
            layer.KeyMatMul.Quantizer = new DynamicIntQuantizer(IntFormat.Asymmetric(6));
            layer.ValueMatMul.Quantizer = FpQuantizer.PerTensor(FpFormat.E3M2, bias: 2);
            layer.ProbsMatMul.Quantizer = FpQuantizer.PerTensor(FpFormat.E4M3, bias: 7);
        }
        int[] tokens = RandomTokens(20, model.VocabSize, 8);
        float[] quantized = model.Logits([tokens])[0];
        foreach (var linear in model.Linears) linear.InputQuantizer = null;
        Assert.NotEqual(quantized, model.Logits([tokens])[0]); // the quantizers do act
        foreach (var linear in model.Linears) linear.InputQuantizer = FpQuantizer.PerTensor(FpFormat.E2M1, bias: 1);
        AssertDecodeMatchesForward(model);
    }

    [Fact]
    public void CacheChecksCapacityAndCanBeReused()
    {
        var model = TinyModel(tied: false);
        var cache = model.CreateCache(capacity: 6);
        var first = new float[model.VocabSize];
        var again = new float[model.VocabSize];
        model.Decode([1, 2, 3, 4, 5], cache, first);
        var error = Assert.Throws<ArgumentException>(() => model.Decode([6, 7], cache, again));
        Assert.Contains("5 of 6 positions", error.Message);
        cache.Clear();
        model.Decode([1, 2, 3, 4, 5], cache, again);
        Assert.Equal(first, again);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.CreateCache(model.ContextLength + 1));
        var other = LlamaModel.CreateRandom(TinyConfig(false) with { NumHiddenLayers = 3 }, seed: 1);
        Assert.Contains("another shape", Assert.Throws<ArgumentException>(() => other.Decode([1], cache, again)).Message);
    }

    [Fact]
    public void GreedySamplingIsTheArgMaxWithTheLowestIdOnTies()
    {
        var random = new Random(0);
        Assert.Equal(1, TokenSampler.Sample([0f, 3f, 3f, -1f], GenerationSettings.Greedy(1), random));
        // Top-1 is greedy whatever the temperature; a tiny top-p keeps only the most likely token.
        var topOne = new GenerationSettings { Temperature = 5, TopK = 1 };
        var tinyP = new GenerationSettings { Temperature = 1, TopP = 1e-6 };
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(2, TokenSampler.Sample([0f, 1f, 4f, 3.5f], topOne, random));
            Assert.Equal(2, TokenSampler.Sample([0f, 1f, 4f, 3.5f], tinyP, random));
        }
        Assert.Throws<ArgumentException>(() => TokenSampler.Sample([0f, float.NaN], GenerationSettings.Greedy(1), random));
    }

    [Fact]
    public void SamplingFollowsTheTemperedTruncatedDistribution()
    {
        float[] logits = [MathF.Log(0.1f), MathF.Log(0.2f), MathF.Log(0.3f), MathF.Log(0.4f)];
        double[] Frequencies(GenerationSettings settings)
        {
            var random = new Random(settings.Seed);
            var counts = new double[logits.Length];
            const int draws = 20000;
            for (int i = 0; i < draws; i++) counts[TokenSampler.Sample(logits, settings, random)]++;
            return counts.Select(c => c / draws).ToArray();
        }
        static void Near(double[] expected, double[] actual)
        {
            for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) < 0.015, $"token {i}: {actual[i]:F3} vs {expected[i]:F3}");
        }
        Near([0.1, 0.2, 0.3, 0.4], Frequencies(new GenerationSettings { Temperature = 1 }));
        Near([0, 0, 3 / 7.0, 4 / 7.0], Frequencies(new GenerationSettings { Temperature = 1, TopK = 2 }));
        Near([0, 0.2 / 0.9, 0.3 / 0.9, 0.4 / 0.9], Frequencies(new GenerationSettings { Temperature = 1, TopP = 0.85 }));
        // Temperature 0.5 squares the probabilities before renormalising.
        Near([0.01 / 0.3, 0.04 / 0.3, 0.09 / 0.3, 0.16 / 0.3], Frequencies(new GenerationSettings { Temperature = 0.5 }));
    }

    [Fact]
    public void GreedyGenerationEqualsArgMaxOverFullForwardsAndSeedsRepeat()
    {
        var model = TinyModel(tied: true);
        var tokenizer = new PrintableTokenizer(model.VocabSize);
        var generator = new TextGenerator(model, tokenizer);
        int[] prompt = [3, 14, 15, 9, 2];
        var settings = GenerationSettings.Greedy(30) with { StopAtEos = false };
        int[] generated = [.. generator.GenerateIds(prompt, settings)];

        var tokens = new List<int>(prompt);
        while (tokens.Count < prompt.Length + 30)
        {
            float[] logits = model.Logits([tokens.TakeLast(model.ContextLength).ToArray()])[0];
            tokens.Add(System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.AsSpan(logits.Length - model.VocabSize)));
        }
        // The first tokens (within one context window) are exactly the full-forward arg-max continuation.
        Assert.Equal(tokens.Skip(prompt.Length).Take(model.ContextLength - prompt.Length), generated.Take(model.ContextLength - prompt.Length));
        Assert.Equal(30, generated.Length);

        var sampled = new GenerationSettings { MaxNewTokens = 60, Temperature = 1.5, TopK = 20, TopP = 0.95, Seed = 7, StopAtEos = false };
        string text = generator.Continue("#/0(", sampled);
        Assert.Equal(60, text.Length); // runs past the context of 40 by re-prefilling half of it
        Assert.Equal(text, generator.Continue("#/0(", sampled));
        Assert.Equal(text, string.Concat(generator.Stream("#/0(", sampled)));
        Assert.NotEqual(text, generator.Continue("#/0(", sampled with { Seed = 8 }));
    }

    [Fact]
    public void GenerationStopsAtEndOfSequenceAndSettingsRoundTripThroughJson()
    {
        var model = TinyModel(tied: false);
        var tokenizer = new PrintableTokenizer(model.VocabSize);
        var generator = new TextGenerator(model, tokenizer);
        int[] prompt = [1, 2, 3];
        var sampling = new GenerationSettings { MaxNewTokens = 20, Temperature = 1, Seed = 4, StopAtEos = false };
        int[] free = [.. generator.GenerateIds(prompt, sampling)];
        // A tokenizer whose end-of-sequence token is the first token that is new at a later position.
        int stop = Enumerable.Range(1, free.Length - 1).First(i => !free.Take(i).Contains(free[i]));
        var eosThere = new EosTokenizer(free[stop]);
        Assert.Equal(free.Take(stop), new TextGenerator(model, eosThere).GenerateIds(prompt, sampling with { StopAtEos = true }));

        var settings = new GenerationSettings { MaxNewTokens = 12, Temperature = 0.8, TopK = 40, TopP = 0.9, Seed = 3 };
        string json = settings.ToJson();
        Assert.Contains("\"max_new_tokens\": 12", json);
        Assert.Equal(settings, GenerationSettings.FromJson(json));
        Assert.Contains("top_p", Assert.Throws<InvalidDataException>(() => GenerationSettings.FromJson("{\"top_p\": 0}")).Message);
        Assert.Throws<ArgumentException>(() => generator.GenerateIds([], settings));
    }

    private sealed class EosTokenizer(int eos) : ITokenizer
    {
        public int VocabSize => 61;
        public int? BosTokenId => null;
        public int? EosTokenId => eos;
        public int[] Encode(string text) => [];
        public string Decode(ReadOnlySpan<int> ids) => "";
    }
}
