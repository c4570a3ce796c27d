using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Bert;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tests.Models;
using static LlmFp4.Kit.Tests.Calibration.CalibrationTestData;

namespace LlmFp4.Kit.Tests.Calibration;

/// <summary>Every calibrator on a tiny random BERT encoder through <see cref="IQuantizableModel"/>, and what post-LayerNorm changes.</summary>
public class BertCalibrationTests
{
    private static BertModel Encoder()
    {
        var model = BertModel.CreateRandom(BertModelTests.Tiny, seed: 21, std: 0.2f);
        // LayerNorm weights and biases away from 1 and 0, and a few wide channels, as in trained BERTs.
        var random = new Random(4);
        foreach (var (name, tensor) in model.NamedWeights().Where(w => w.Name.Contains("LayerNorm", StringComparison.Ordinal)))
            for (int j = 0; j < tensor.Data.Length; j++)
                tensor.Data[j] += (float)((random.NextDouble() - 0.5) * (j % 11 == 3 ? 8 : 0.5));
        return model;
    }

    private static CalibrationSet Set()
    {
        var random = new Random(6);
        var stream = Enumerable.Range(0, 800).Select(_ => random.Next(BertModelTests.Tiny.VocabSize)).ToArray();
        return CalibrationSet.Sample(stream, new CalibrationDataSettings { Samples = 6, SequenceLength = 12, Seed = 1 });
    }

    /// <summary>Hidden states of two calibration sequences (inputs outside the calibrated ranges would be clipped at any width).</summary>
    private static float[] States(BertModel model) => [.. model.HiddenStates([.. Set().Windows.Take(2)]).SelectMany(s => s)];

    private static float[] Apply(BertModel model, CalibrationResult result, bool fold = false)
    {
        var copy = model.Clone();
        result.Apply(copy, fold);
        return States(copy);
    }

    [Fact]
    public void Groups_name_every_linear_once_and_list_the_layer_norm_that_also_writes_the_residual()
    {
        var model = Encoder();
        var groups = model.LinearGroups(includeOutputHead: true);
        Assert.Equal(model.Linears, groups.SelectMany(g => g.Layers));
        Assert.Equal(["encoder.layer.1.attention.self.qkv_input", "encoder.layer.1.attention.output.dense_input",
            "encoder.layer.1.intermediate.dense_input", "encoder.layer.1.output.dense_input"], groups.Skip(4).Select(g => g.Name));
        Assert.Equal(["embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"], groups[0].Norm.Select(n => n.Name));
        Assert.Equal(["encoder.layer.0.output.LayerNorm.weight", "encoder.layer.0.output.LayerNorm.bias"], groups[4].Norm.Select(n => n.Name));
        Assert.Equal(["encoder.layer.1.attention.output.LayerNorm.weight", "encoder.layer.1.attention.output.LayerNorm.bias"], groups[6].Norm.Select(n => n.Name));
        Assert.All(groups.Where(g => g.Norm.Count > 0), g => Assert.True(g.NormFeedsResidual));
        Assert.Equal("bert", model.Architecture);
        Assert.Same(model.WordEmbeddings, model.TokenEmbedding);
    }

    [Fact]
    public void A_scale_is_never_folded_into_a_layer_norm_that_also_writes_the_residual()
    {
        var model = Encoder();
        var groups = InputGroup.ForModel(model, includeLmHead: false);
        var context = new CalibrationContext(model, QuantPresets.Get("smoothquant:16/8/8"), groups, null, default);
        var error = Assert.Throws<InvalidOperationException>(() => context.FoldIntoNorm(groups[0], Enumerable.Repeat(2f, 32).ToArray()));
        Assert.Contains("encoder.layer.0.attention.self.qkv_input", error.Message);
        Assert.Contains("bert", error.Message);
        Assert.False(groups[0].CanFoldIntoNorm);
        Assert.True(InputGroup.ForModel(TinyModel(), includeLmHead: false)[0].CanFoldIntoNorm);
    }

    [Fact]
    public void Reordered_encoder_computes_the_same_hidden_states_and_keeps_its_order_through_a_copy()
    {
        var model = Encoder();
        var config = model.Config;
        var random = new Random(9);
        int[] Shuffle(int n) => [.. Enumerable.Range(0, n).OrderBy(_ => random.Next())];
        int[] WithinHeads()
        {
            var order = new int[config.HiddenSize];
            for (int h = 0; h < config.NumAttentionHeads; h++)
            {
                var within = Shuffle(config.HeadDim);
                for (int p = 0; p < config.HeadDim; p++) order[h * config.HeadDim + p] = h * config.HeadDim + within[p];
            }
            return order;
        }
        ChannelOrder RandomOrder() => new(Shuffle(config.HiddenSize), [.. model.Layers.Select(_ => WithinHeads())],
            [.. model.Layers.Select(_ => Shuffle(config.IntermediateSize))]);

        var reference = States(model);
        var reordered = model.Clone();
        reordered.ReplaceParameters(reordered.ReorderedWeights(RandomOrder()));
        Assert.NotEqual(model.Layers[0].Query.Weight, reordered.Layers[0].Query.Weight);
        Assert.InRange(RelativeError(reference, States(reordered)), 0, 1e-6);

        // Reordering a reordered model composes the orders; a copy (and its weights hash) carries the order along.
        reordered.ReplaceParameters(reordered.ReorderedWeights(RandomOrder()));
        var copy = reordered.Clone();
        Assert.InRange(RelativeError(reference, States(copy)), 0, 1e-6);
        Assert.Contains(copy.NamedWeights(), w => w.Name == BertModel.ResidualOrderName);
        Assert.NotEqual(ModelIdentity.Of(model).WeightsSha256, ModelIdentity.Of(copy).WeightsSha256);

        Assert.Throws<ArgumentException>(() => model.Clone().ReplaceParameters(
            new Dictionary<string, float[]> { [BertModel.ResidualOrderName] = [.. Enumerable.Repeat(0f, config.HiddenSize)] }));
        Assert.Throws<InvalidDataException>(() => model.Clone().ReplaceParameters(new Dictionary<string, float[]> { ["pooler.dense.weight"] = [1] }));
    }

    /// <summary>Each preset with every format widened to 16 bits: the method's reparameterisation alone must leave the encoder's function as it was.</summary>
    public static TheoryData<string> Presets() =>
        ["minmax-int:4/4/4", "minmax-fp:4/4/4", "fpq-baseline:4/4/4", "fpq:4/4/4", "smoothquant:16/4/4", "gptq:4/4/16",
         "rptq-w4a4", "fptq-w4a8", "fp6-w6a16", "int4-w4a16"];

    [Theory]
    [MemberData(nameof(Presets))]
    public void Every_method_runs_on_the_encoder_and_at_16_bits_keeps_its_function(string preset)
    {
        var model = Encoder();
        var set = Set();
        var reference = States(model);
        var config = Small(QuantPresets.Get(preset));

        var quantized = Calibrator.Run(model, config, set);
        Assert.Equal(model.Linears.Select(l => l.Name), quantized.Layers.Select(l => l.Name));
        Assert.InRange(RelativeError(reference, Apply(model, quantized)), 1e-3, 1);
        if (config.Method is FpqSettings)
            Assert.Equal(Apply(model, quantized), Apply(model, quantized, fold: true));

        var fine = Calibrator.Run(model, Widened(config), set);
        if (config.Method is not RptqSettings)
            Assert.DoesNotContain(fine.Tensors.Keys, name => name.Contains("LayerNorm", StringComparison.Ordinal));
        // FPQ's offsets round b~_j − ρ to the nearest integer, which clips a channel's range by up to √2 at any width.
        if (config.Method is not FpqSettings)
            Assert.InRange(RelativeError(reference, Apply(model, fine)), 0, 2e-3);
    }

    [Fact]
    public void Smoothing_and_equalization_divide_at_the_quantizer_on_an_encoder()
    {
        var model = Encoder();
        var set = Set();
        var smooth = Calibrator.Run(model, QuantPresets.Get("smoothquant:16/8/8"), set);
        Assert.All(smooth.Layers, layer => Assert.IsType<ColumnScaledQuantizer>(layer.InputQuantizer));

        var fptq = QuantPresets.Get("fptq-w4a8") with { Method = new FptqSettings { EqualizeFrom = 1e-3, DynamicFrom = 1e6 } };
        var result = Calibrator.Run(model, fptq, set);
        Assert.All(result.Layers, layer => Assert.Equal(FptqPolicy.Dynamic, Assert.IsType<FptqLayerResult>(layer.Details).Policy));
        var llama = Calibrator.Run(TinyModel(), fptq, TinySet());
        Assert.Contains(llama.Layers, layer => ((FptqLayerResult)layer.Details!).Policy == FptqPolicy.Equalized);
    }

    [Fact]
    public void Sentences_are_drawn_by_seed_and_framed_one_per_sequence()
    {
        string[] sentences = ["a", "b b", "c c c", "d d d d", "e"];
        int[] Encode(string text, int max) => [101, .. text.Split(' ').Select(w => w[0] - 'a' + 1).Take(max - 2), 102];
        var settings = new CalibrationDataSettings { Samples = 3, SequenceLength = 4, Seed = 2 };
        var set = CalibrationSet.FromSentences(sentences, Encode, settings, "test");
        Assert.Equal(3, set.Windows.Count);
        Assert.All(set.Windows, w => Assert.True(w[0] == 101 && w[^1] == 102 && w.Length <= 4));
        Assert.Equal(set.Windows, CalibrationSet.FromSentences(sentences, Encode, settings, "test").Windows);
        Assert.NotEqual(set.Windows, CalibrationSet.FromSentences(sentences, Encode, settings with { Seed = 3 }, "test").Windows);
        Assert.Equal(set.Windows.Sum(w => w.Length), set.TokenCount);
        Assert.Contains("fewer", Assert.Throws<ArgumentException>(() => CalibrationSet.FromSentences(sentences, Encode, settings with { Samples = 9 }, "test")).Message);
        Assert.Contains("test", Assert.Throws<ArgumentException>(() => CalibrationSet.FromSentences(sentences, (_, _) => [], settings, "test")).Message);
    }

    /// <summary>Small searches and groups that fit the tiny encoder.</summary>
    private static QuantConfig Small(QuantConfig config)
    {
        config = config.WithSearch(new SearchSettings { Steps = 12, Rounds = 1 });
        QuantSpec? Groups(QuantSpec? spec) => spec is { Granularity.Kind: GranularityKind.PerGroup } ? spec with { Granularity = Granularity.PerGroup(32) } : spec;
        config = config with { Weights = Groups(config.Weights) };
        return config.Method is RptqSettings ? config with { Method = new RptqSettings { Clusters = 4, HeadClusters = 2, Restarts = 2 } } : config;
    }

    /// <summary>The config with every format at 16 bits (FP: E5M10 only), packing off (it packs 4- and 6-bit codes only).</summary>
    private static QuantConfig Widened(QuantConfig config)
    {
        static QuantSpec? Wide(QuantSpec? spec) => spec switch
        {
            null => null,
            { Kind: NumberKind.Int } => spec with { Bits = 16 },
            _ => spec with { Bits = 16, ExponentBits = 5, SearchMantissaBits = [10] },
        };
        return config with
        {
            Weights = Wide(config.Weights), Activations = Wide(config.Activations), Embedding = Wide(config.Embedding), PackWeights = false,
        };
    }
}
