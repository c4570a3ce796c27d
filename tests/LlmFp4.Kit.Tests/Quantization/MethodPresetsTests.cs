using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Tests.Quantization;

public class MethodPresetsTests
{
    [Fact]
    public void Related_method_presets_resolve_with_their_settings()
    {
        foreach (var name in QuantPresets.Named.Keys) Assert.Contains(name, QuantPresets.Names());
        var rptq = QuantPresets.Get("rptq-w4a3");
        Assert.IsType<RptqSettings>(rptq.Method);
        Assert.Equal((4, 3), (rptq.Weights!.Bits, rptq.Activations!.Bits));
        Assert.Equal(32, ((RptqSettings)rptq.Method).Clusters);
        Assert.False(rptq.QuantizeLmHead);
        var fptq = QuantPresets.Get("FPTQ-W4A8");
        Assert.Equal(Granularity.PerGroup(128), fptq.Weights!.Granularity);
        var fptqSettings = Assert.IsType<FptqSettings>(fptq.Method);
        Assert.Equal((15, 150), (fptqSettings.EqualizeFrom, fptqSettings.DynamicFrom));
        var fp6 = QuantPresets.Get("fp6-w6a16");
        Assert.Equal("E3M2", fp6.Weights!.StartFormat.ToString()[..4]);
        Assert.True(fp6.PackWeights);
        Assert.Null(fp6.Activations);
        Assert.IsType<GptqSettings>(QuantPresets.Get("int4-gptq-w4a16").Method);
        Assert.Equal(QuantConfig.Resolve("rptq-w4a4").Hash, QuantPresets.Get("rptq-w4a4").Hash);
        Assert.NotEqual(QuantPresets.Get("int4-w4a16").Hash, QuantPresets.Get("int4-gptq-w4a16").Hash);
    }

    [Fact]
    public void Settings_of_other_methods_stay_out_of_the_json()
    {
        var json = QuantPresets.Get("fpq:4/4/4").ToJson();
        Assert.DoesNotContain("rptq", json);
        Assert.DoesNotContain("alpha", json);
        Assert.DoesNotContain("damp", json);
        Assert.DoesNotContain("pack_weights", json);
        Assert.Contains("\"type\": \"rptq\"", QuantPresets.Get("rptq-w4a4").ToJson());
        Assert.Contains("\"pack_weights\": true", QuantPresets.Get("fp6-w6a16").ToJson());
    }

    [Fact]
    public void Inconsistent_method_settings_are_named()
    {
        var rptq = QuantPresets.Get("rptq-w4a4");
        Assert.Contains("asymmetric", Assert.Throws<ArgumentException>(() => (rptq with { Activations = rptq.Activations! with { Symmetric = true } }).Validate()).Message);
        Assert.Contains("INT", Assert.Throws<ArgumentException>(() => (rptq with { Weights = QuantSpec.Fp(4, Granularity.PerRow) }).Validate()).Message);
        var fptq = QuantPresets.Get("fptq-w4a8");
        Assert.Contains("equalize_from", Assert.Throws<ArgumentException>(() => (fptq with { Method = new FptqSettings { EqualizeFrom = 200 } }).Validate()).Message);
        Assert.Contains("pack_weights", Assert.Throws<ArgumentException>(() => (QuantPresets.Get("gptq:w4a16") with { PackWeights = true }).Validate()).Message);
        Assert.Throws<InvalidDataException>(() => QuantConfig.FromJson(QuantPresets.Get("rptq-w4a4").ToJson().Replace("\"clusters\": 32", "\"clusters\": 0")));
    }

    [Fact]
    public void Presets_are_labelled_as_the_papers_write_them()
    {
        Assert.Equal("FPQ baseline 4/4/8", QuantPresets.Label("fpq-baseline:4/4/8"));
        Assert.Equal("RPTQ W4A4", QuantPresets.Label("rptq-w4a4"));
        Assert.Equal("INT4-GPTQ W4A16", QuantPresets.Label("int4-gptq-w4a16"));
        Assert.Equal("my-config.json", QuantPresets.Label("my-config.json"));
    }
}
