using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;
using static LlmFp4.Kit.Tests.Calibration.CalibrationTestData;

namespace LlmFp4.Kit.Tests.Calibration;

public class CaptureTests
{
    [Fact]
    public void Windows_are_seeded_and_lie_in_the_stream()
    {
        var stream = Enumerable.Range(0, 500).ToArray();
        var settings = new CalibrationDataSettings { Samples = 6, SequenceLength = 20, Seed = 4 };
        var a = CalibrationSet.Sample(stream, settings);
        var b = CalibrationSet.Sample(stream, settings);
        Assert.Equal(a.Windows, b.Windows);
        Assert.NotEqual(a.Windows, CalibrationSet.Sample(stream, settings with { Seed = 5 }).Windows);
        Assert.All(a.Windows, w => Assert.Equal(Enumerable.Range(w[0], 20), w));
        Assert.Equal(120, a.TokenCount);
        var error = Assert.Throws<ArgumentException>(() => CalibrationSet.Sample(stream[..10], settings, "tiny.txt"));
        Assert.Contains("tiny.txt", error.Message);
    }

    private sealed class Recorder : ILinearObserver
    {
        public Dictionary<string, List<float>> Inputs { get; } = [];
        public Dictionary<string, List<float>> Outputs { get; } = [];

        public void Observe(LinearLayer layer, ReadOnlySpan<float> input, ReadOnlySpan<float> output, int rows)
        {
            (Inputs.TryGetValue(layer.Name, out var i) ? i : Inputs[layer.Name] = []).AddRange(input[..(rows * layer.InFeatures)].ToArray());
            (Outputs.TryGetValue(layer.Name, out var o) ? o : Outputs[layer.Name] = []).AddRange(output[..(rows * layer.OutFeatures)].ToArray());
        }
    }

    [Fact]
    public void Each_group_stores_its_shared_input_once_and_outputs_are_x_times_w()
    {
        var model = TinyModel();
        var set = TinySet(samples: 3, length: 12);
        var groups = InputGroup.ForModel(model, includeLmHead: true);
        Assert.Equal(4 * model.Layers.Count + 1, groups.Count);
        ActivationCapture.Run(model, set, groups);
        Assert.Null(model.Observer);

        var recorder = new Recorder();
        model.Observer = recorder;
        model.Logits(set.Windows);
        model.Observer = null;
        foreach (var group in groups)
            foreach (var layer in group.Layers)
            {
                Assert.Equal(recorder.Inputs[layer.Name], group.Inputs);
                var output = new float[group.Tokens * layer.OutFeatures];
                Gemm.MatMul(group.Inputs, layer.Weight, output, group.Tokens, layer.OutFeatures, layer.InFeatures, transposeB: true);
                var observed = recorder.Outputs[layer.Name];
                for (int i = 0; i < output.Length; i++) Assert.Equal(observed[i], output[i], 1e-4f);
            }
        Assert.Same(model.Layers[1].InputNorm, Assert.Single(groups[4].Norm));
        Assert.False(groups[1].HasNorm);
    }

    [Fact]
    public void Attention_operand_ranges_are_recorded_and_the_points_restored()
    {
        var model = TinyModel();
        var marker = new DynamicIntQuantizer(LlmFp4.Kit.Formats.IntFormat.Int8);
        model.Layers[0].ProbsMatMul.Quantizer = marker;
        var max = ActivationCapture.Run(model, TinySet(), [], model.AttentionMatMulPoints);
        Assert.Same(marker, model.Layers[0].ProbsMatMul.Quantizer);
        Assert.Equal(model.AttentionMatMulPoints.Count, max.Count);
        Assert.InRange(max[model.Layers[1].ProbsMatMul.Name], 0.05f, 1f);
        Assert.True(max[model.Layers[0].QueryMatMul.Name] > 0);
    }
}
