using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Bert;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tests.Evaluation;
using LlmFp4.Kit.Tests.Models;
using static LlmFp4.Kit.Tests.Calibration.CalibrationTestData;

namespace LlmFp4.Kit.Tests.Calibration;

/// <summary>Records, at each group it calibrates, which groups hold a captured input (the test of what the calibrator releases when).</summary>
[MethodName("test-inputs-held")]
public sealed record InputsHeldSettings : MethodSettings
{
    /// <summary>Ask for every input before the layer loop, as RPTQ does.</summary>
    public bool EveryInputFirst { get; init; }
}

internal sealed class InputsHeldMethod(InputsHeldSettings settings) : ICalibrationMethod<InputsHeldSettings>
{
    /// <summary>Per calibrated group (in order): its name and the names of the groups holding inputs at that moment.</summary>
    public static List<(string Group, string[] Held)> Log { get; } = [];

    public bool NeedsEveryInputFirst => settings.EveryInputFirst;

    public IEnumerable<LayerCalibration> CalibrateGroup(CalibrationContext context, InputGroup group)
    {
        Log.Add((group.Name, [.. context.Groups.Where(g => g.Inputs.Length > 0).Select(g => g.Name)]));
        return group.Layers.Select(layer => context.Layer(group, layer, null, layer.Weight, null, null, null));
    }
}

/// <summary>
/// The block-by-block capture: the calibrator's results equal those of today's flow (every input captured at once, then
/// every group calibrated) byte for byte, a block's inputs are released before the next block is captured, and the
/// staged forward shows the observer exactly what the ordinary forward does, over several batches.
/// </summary>
public class StagedCaptureTests
{
    private static readonly SearchSettings SmallGrid = new() { Steps = 6, Rounds = 2 };

    private static readonly string[] Presets =
        ["fpq:4/4/4", "fpq-baseline:4/4/8", "gptq:4/4/16", "smoothquant:16/8/8", "minmax-fp:4/4/4", "minmax-int:w8a8", "rptq-w4a4", "fptq-w4a8"];

    /// <summary>4,480 tokens: two capture batches (4,096 tokens each at most), so rows of both batches are checked.</summary>
    private static CalibrationSet TwoBatchSet(int vocab, int length, int samples)
    {
        var random = new Random(8);
        var stream = Enumerable.Range(0, 20_000).Select(_ => random.Next(vocab)).ToArray();
        var set = CalibrationSet.Sample(stream, new CalibrationDataSettings { Samples = samples, SequenceLength = length, Seed = 2 });
        Assert.InRange(set.TokenCount, 4097, 8192);
        return set;
    }

    private static BertModel Encoder() => BertModel.CreateRandom(BertModelTests.Tiny, seed: 21, std: 0.2f);

    /// <summary>The flow before the staged capture, kept as the reference: capture every input at once, then calibrate every group.</summary>
    private static CalibrationResult EveryInputAtOnce(IQuantizableModel model, QuantConfig config, CalibrationSet set)
    {
        var method = CalibrationMethods.For(config.Method);
        var groups = InputGroup.ForModel(model, config.QuantizeLmHead);
        var points = config.AttentionMatMuls is null ? [] : model.AttentionMatMulPoints;
        var max = ActivationCapture.Run(model, set, groups, points);
        var context = new CalibrationContext(model, config, groups, null, default);
        method.Prepare(context);
        var layers = groups.SelectMany(g => method.CalibrateGroup(context, g).ToList()).ToList();
        var embedding = config.Embedding is { } spec ? method.QuantizeEmbedding(context, model.TokenEmbedding!, spec) : null;
        return new CalibrationResult
        {
            Config = config,
            Model = ModelIdentity.Of(model),
            CalibrationTokens = set.TokenCount,
            Layers = layers,
            Embedding = embedding,
            AttentionQuantizers = points.ToDictionary(p => p.Name, p => MinMax.ForAbsMax(config.AttentionMatMuls!, max[p.Name])),
            Tensors = context.Tensors,
        };
    }

    /// <summary>result.json and tensors.safetensors as saved, timings left out (they are measured, not computed).</summary>
    private static (byte[] Json, byte[] Tensors) Saved(CalibrationResult result)
    {
        using var dir = new TempDirectory();
        new CalibrationResult
        {
            Config = result.Config,
            Model = result.Model,
            CalibrationTokens = result.CalibrationTokens,
            Layers = result.Layers,
            Embedding = result.Embedding,
            AttentionQuantizers = result.AttentionQuantizers,
            Tensors = result.Tensors,
        }.Save(dir.Path);
        return (File.ReadAllBytes(Path.Combine(dir.Path, CalibrationResult.JsonFile)), File.ReadAllBytes(Path.Combine(dir.Path, CalibrationResult.TensorsFile)));
    }

    private static void AssertSameResult(IQuantizableModel model, QuantConfig config, CalibrationSet set)
    {
        var staged = Calibrator.Run(model, config, set);
        var reference = EveryInputAtOnce(model, config, set);
        Assert.NotEmpty(staged.Layers);
        Assert.All(staged.Layers, l => Assert.True(l.OutputMse > 0, $"{config.Name}: {l.Name} was not quantized"));
        var (json, tensors) = Saved(staged);
        var (referenceJson, referenceTensors) = Saved(reference);
        Assert.True(referenceJson.AsSpan().SequenceEqual(json), $"{config.Name}: result.json differs");
        Assert.True(referenceTensors.AsSpan().SequenceEqual(tensors), $"{config.Name}: tensors.safetensors differs");
    }

    public static TheoryData<string, string> ModelsAndPresets()
    {
        var data = new TheoryData<string, string>();
        foreach (string model in new[] { "llama", "bert" })
            foreach (string preset in Presets) data.Add(model, preset);
        return data;
    }

    [Theory]
    [MemberData(nameof(ModelsAndPresets))]
    public void Staged_calibration_equals_the_whole_model_capture_byte_for_byte(string architecture, string preset)
    {
        IQuantizableModel model = architecture == "llama" ? TinyModel() : Encoder();
        var set = architecture == "llama" ? TwoBatchSet(TinyConfig().VocabSize, 64, 70) : TwoBatchSet(BertModelTests.Tiny.VocabSize, 24, 180);
        var config = QuantPresets.Get(preset).WithSearch(SmallGrid);
        if (preset == "fpq:4/4/4") config = config with { AttentionMatMuls = QuantSpec.Fp(8, Granularity.PerTensor) };
        AssertSameResult(model, config, set);
    }

    private static QuantConfig HeldConfig(bool everyInputFirst) => new()
    {
        Name = "held",
        Method = new InputsHeldSettings { EveryInputFirst = everyInputFirst },
        Weights = QuantSpec.Int(8, Granularity.PerRow),
        Calibration = new CalibrationDataSettings { Samples = 4, SequenceLength = 16, Seed = 3 },
    };

    /// <summary><c>model.layers.3</c> of <c>model.layers.3.mlp.gate_up_input</c>; <c>lm_head_input</c> is its own block.</summary>
    private static string Block(string group) => string.Join('.', group.Split('.').Take(3));

    [Fact]
    public void A_block_holds_its_inputs_only_while_its_groups_are_calibrated()
    {
        foreach (var (model, set) in new (IQuantizableModel, CalibrationSet)[] { (TinyModel(), TinySet()), (Encoder(), TwoBatchSet(BertModelTests.Tiny.VocabSize, 24, 180)) })
        {
            InputsHeldMethod.Log.Clear();
            var progress = new List<CalibrationProgress>();
            var result = Calibrator.Run(model, HeldConfig(everyInputFirst: false), set, new SynchronousProgress<CalibrationProgress>(progress.Add));
            var groups = model.LinearGroups(includeOutputHead: true).Select(g => g.Name).ToList();
            Assert.Equal(groups, InputsHeldMethod.Log.Select(e => e.Group));
            foreach (var (group, held) in InputsHeldMethod.Log)
            {
                var remaining = groups.SkipWhile(g => g != group).Where(g => Block(g) == Block(group));
                Assert.Equal(remaining, held);
            }
            Assert.All(InputGroup.ForModel(model, true), g => Assert.Empty(g.Inputs));

            // Progress: one capture step per block, each followed by the layer steps of that block's groups.
            var steps = progress.Where(p => p.Item != "done").Select(p => p.Stage == CalibrationStage.Capture ? $"capture {p.Item}" : Block(p.Item)).ToList();
            var expected = groups.GroupBy(Block).SelectMany(b => b.Select(_ => b.Key).Prepend($"capture {(b.Key == "lm_head_input" ? "lm_head" : b.Key)}"));
            Assert.Equal(expected, steps);
            Assert.Equal(model.Linears.Count, result.Layers.Count);
        }
    }

    [Fact]
    public void A_method_that_needs_every_input_first_gets_them_all_before_the_layer_loop()
    {
        InputsHeldMethod.Log.Clear();
        var model = TinyModel();
        Calibrator.Run(model, HeldConfig(everyInputFirst: true), TinySet());
        var groups = model.LinearGroups(includeOutputHead: true).Select(g => g.Name).ToList();
        Assert.Equal(groups, InputsHeldMethod.Log.Select(e => e.Group));
        // Each group's input is still released once it is calibrated.
        for (int i = 0; i < groups.Count; i++) Assert.Equal(groups.Skip(i), InputsHeldMethod.Log[i].Held);
    }

    private sealed class Recorder : ILinearObserver
    {
        public Dictionary<LinearLayer, List<float>> Inputs { get; } = [];

        public void Observe(LinearLayer layer, ReadOnlySpan<float> input, ReadOnlySpan<float> output, int rows) =>
            (Inputs.TryGetValue(layer, out var i) ? i : Inputs[layer] = []).AddRange(input[..(rows * layer.InFeatures)].ToArray());
    }

    [Fact]
    public void Staged_capture_over_two_batches_sees_the_inputs_of_the_ordinary_forward_bit_for_bit()
    {
        var model = TinyModel();
        var set = TwoBatchSet(model.VocabSize, 64, 70);
        var groups = InputGroup.ForModel(model, includeLmHead: true);
        var points = model.AttentionMatMulPoints;
        var max = ActivationCapture.Run(model, set, groups, points);

        // TokenLogProbs runs the same batches of whole windows (MaxBatchTokens = 4096) through the ordinary forward.
        var recorder = new Recorder();
        model.Observer = recorder;
        model.TokenLogProbs(set.Windows);
        model.Observer = null;
        foreach (var group in groups)
        {
            var observed = recorder.Inputs[group.Layers[0]];
            Assert.Equal(group.Tokens * group.Features, observed.Count);
            Assert.True(observed.Select(BitConverter.SingleToInt32Bits).SequenceEqual(group.Inputs.Select(BitConverter.SingleToInt32Bits)), group.Name);
        }
        Assert.All(points, p => Assert.True(max[p.Name] > 0, p.Name));
    }

    private sealed class CountingQuantizer : ITensorQuantizer
    {
        public int Calls { get; private set; }
        public void Apply(Span<float> values, int rows, int cols) => Calls++;
    }

    [Fact]
    public void Stages_after_the_last_one_needed_are_not_run_and_the_model_is_restored()
    {
        var model = TinyModel();
        var groups = InputGroup.ForModel(model, includeLmHead: false);
        var head = new CountingQuantizer();
        model.LmHead.InputQuantizer = head;
        var stages = new List<IReadOnlyList<InputGroup>>();
        using (var capture = new StagedCapture(model, TinySet(), groups))
        {
            Assert.All(groups, g => Assert.Empty(g.Inputs));
            while (capture.CaptureNextStage() is { } stage) stages.Add(stage);
            Assert.NotNull(model.Observer);
        }
        Assert.Null(model.Observer);
        Assert.Equal(0, head.Calls);
        Assert.Equal(model.Layers.Count, stages.Count);
        Assert.Equal(groups, stages.SelectMany(s => s));
        Assert.All(stages, (stage, i) => Assert.All(stage, g => Assert.StartsWith($"model.layers.{i}.", g.Name)));

        // Released arrays are reused by the next stage's groups of the same size, unreleased ones never.
        var all = InputGroup.ForModel(model, includeLmHead: false);
        using (var capture = new StagedCapture(model, TinySet(), all))
        {
            var first = capture.CaptureNextStage()!.ToList();
            var arrays = first.Select(g => g.Inputs).ToList();
            first[0].Inputs = [];
            first[3].Inputs = [];
            var second = capture.CaptureNextStage()!;
            Assert.Same(arrays[0], second[0].Inputs);
            Assert.Same(arrays[3], second[3].Inputs);
            Assert.All(second.Skip(1).Take(2), g => Assert.DoesNotContain(arrays, a => ReferenceEquals(a, g.Inputs)));
            Assert.Same(arrays[1], first[1].Inputs);
        }

        // With the head's group the head runs, once per batch.
        using (var capture = new StagedCapture(model, TinySet(), InputGroup.ForModel(model, includeLmHead: true)))
            while (capture.CaptureNextStage() is not null) { }
        Assert.Equal(1, head.Calls);
    }
}
