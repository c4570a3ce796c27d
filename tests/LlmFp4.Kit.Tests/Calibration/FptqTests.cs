using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Quantization;
using static LlmFp4.Kit.Tests.Calibration.CalibrationTestData;

namespace LlmFp4.Kit.Tests.Calibration;

public class FptqTests
{
    [Fact]
    public void Policy_follows_the_thresholds_and_needs_a_norm_to_equalize()
    {
        var settings = new FptqSettings();
        Assert.Equal(FptqPolicy.Static, FptqMethod.Policy(14.9, hasNorm: true, settings));
        Assert.Equal(FptqPolicy.Equalized, FptqMethod.Policy(15, hasNorm: true, settings));
        Assert.Equal(FptqPolicy.Dynamic, FptqMethod.Policy(15, hasNorm: false, settings));
        Assert.Equal(FptqPolicy.Dynamic, FptqMethod.Policy(150, hasNorm: true, settings));
        Assert.Equal(FptqPolicy.Static, FptqMethod.Policy(100, hasNorm: true, settings with { EqualizeFrom = 120 }));
    }

    [Fact]
    public void Log_scales_follow_the_formula()
    {
        float[] x = [1, -6, 0, 2, 3, 0];
        var s = FptqMethod.LogScales(x, tokens: 2, features: 3);
        Assert.Equal(2 / Math.Log2(4), s[0], 6);
        Assert.Equal(6 / Math.Log2(8), s[1], 6);
        Assert.Equal(1f, s[2]);
    }

    [Fact]
    public void Equalization_folded_into_the_norms_keeps_the_full_precision_logits()
    {
        var model = TinyModel();
        var set = TinySet();
        var config = QuantPresets.Get("fptq-w4a8") with
        {
            Weights = null,
            Method = new FptqSettings { EqualizeFrom = 1e-9, DynamicFrom = 1e9 },
        };
        var result = Calibrator.Run(model, config, set);
        Assert.Contains(model.Layers[0].InputNorm.Name, result.Tensors.Keys);
        Assert.Contains(model.Layers[1].PostAttentionNorm.Name, result.Tensors.Keys);
        Assert.All(result.Layers.Where(l => l.Name.EndsWith("proj", StringComparison.Ordinal) && !l.Name.Contains("o_proj") && !l.Name.Contains("down_proj")),
            l => Assert.Equal(FptqPolicy.Equalized, Assert.IsType<FptqLayerResult>(l.Details).Policy));
        Assert.All(result.Layers.Where(l => l.Name.Contains("o_proj") || l.Name.Contains("down_proj")), l => Assert.Equal(FptqPolicy.Dynamic, Assert.IsType<FptqLayerResult>(l.Details).Policy));
        var folded = model.Clone();
        result.Apply(folded);
        // Full precision: the folded norms and weights alone, without the INT8 input quantizers.
        foreach (var linear in folded.Linears) linear.InputQuantizer = null;
        Assert.NotEqual(model.Layers[0].QProj.Weight, folded.Layers[0].QProj.Weight);
        Assert.InRange(RelativeError(Logits(model, set), Logits(folded, set)), 0, 1e-6);
    }

    [Fact]
    public void W4a8_quantizes_weights_per_group_and_inputs_by_policy()
    {
        var model = TinyModel();
        var set = TinySet();
        var config = QuantPresets.Get("fptq-w4a8") with { Method = new FptqSettings { EqualizeFrom = 2, DynamicFrom = 4 } };
        var result = Calibrator.Run(model, config, set);
        Assert.Equal(model.Linears.Count - 1, result.Layers.Count);
        foreach (var layer in result.Layers)
        {
            var details = Assert.IsType<FptqLayerResult>(layer.Details);
            switch (details.Policy)
            {
                case FptqPolicy.Dynamic: Assert.IsType<DynamicIntQuantizer>(layer.InputQuantizer); break;
                case FptqPolicy.Equalized: Assert.NotNull(details.SmoothingScales); Assert.IsType<IntQuantizer>(layer.InputQuantizer); break;
                default: Assert.Null(details.SmoothingScales); break;
            }
            var grid = Assert.IsType<IntQuantizer>(layer.WeightQuantizer);
            Assert.Equal(4, grid.Format.Bits);
        }
        var quantized = model.Clone();
        result.Apply(quantized);
        Assert.InRange(RelativeError(Logits(model, set), Logits(quantized, set)), 1e-4, 1);
    }
}
