using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;
using static LlmFp4.Kit.Tests.Calibration.CalibrationTestData;

namespace LlmFp4.Kit.Tests.Calibration;

public class CalibrationCacheTests
{
    [Fact]
    public void Results_are_filed_by_model_config_and_gemm_version()
    {
        var model = ModelIdentity.Of(TinyModel());
        var config = QuantPresets.Get("minmax-int:w8a8");
        string now = CalibrationCache.DirectoryFor("root", model, config);
        Assert.Equal(CalibrationCache.DirectoryFor("root", model, config, Gemm.Backend.Version), now);
        Assert.StartsWith(Path.Combine("root", $"{model.WeightsSha256}-{config.Hash}-"), now);
        // A GEMM with another summation order gives other last bits: its results are filed apart.
        Assert.NotEqual(now, CalibrationCache.DirectoryFor("root", model, config, new NaiveGemm().Version));
        Assert.NotEqual(now, CalibrationCache.DirectoryFor("root", ModelIdentity.Of(TinyModel(tied: true)), config));
    }
}
