using System.Text.RegularExpressions;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;
using LlmFp4.Kit.Tests.Calibration;
using LlmFp4.Kit.Tests.Evaluation;

namespace LlmFp4.Kit.Tests;

public class ProvenanceTests
{
    [Fact]
    public void CurrentNamesKitCommitAndGemmBackend()
    {
        var provenance = Provenance.Current;
        Assert.Equal(KitInfo.Version, provenance.KitVersion);
        Assert.Equal(Gemm.Backend.Name, provenance.GemmBackend);
        Assert.Equal(Gemm.Backend.Version, provenance.GemmVersion);
        if (provenance.Commit is { } commit) Assert.Matches(new Regex("^[0-9a-f]{40}$"), commit);
        Assert.Contains($"GEMM {provenance.GemmBackend}", provenance.ToString());
    }

    [Fact]
    public void EveryManagedKernelSharesOneVersionAndOpenBlasNamesItsCore()
    {
        Assert.Equal(ManagedGemm.OrderVersion, new ManagedGemm(true, 1).Version);
        Assert.Equal(ManagedGemm.OrderVersion, new ManagedGemm(false, 2).Version);
        Assert.Equal(ManagedGemm.OrderVersion, new ScalarGemm().Version);
        if (OpenBlasGemm.TryLoad() is { } openBlas) Assert.Matches(new Regex(@"^OpenBLAS 0\.\d+\.\d+ \S+$"), openBlas.Version);
    }

    [Fact]
    public void CalibrationResultKeepsItsProvenanceThroughSaveAndLoad()
    {
        var result = Calibrator.Run(CalibrationTestData.TinyModel(), QuantPresets.Get("minmax-int:w8a8"), CalibrationTestData.TinySet());
        Assert.Equal(Provenance.Current, result.Provenance);
        using var dir = new TempDirectory();
        var recorded = new CalibrationResult
        {
            Config = result.Config, Model = result.Model, Layers = result.Layers, Tensors = result.Tensors,
            Provenance = new Provenance("0.0.9", null, "OpenBLAS 0.3.21 (test)", "OpenBLAS 0.3.21 Haswell"),
        };
        recorded.Save(dir.Path);
        Assert.Equal(recorded.Provenance, CalibrationResult.Load(dir.Path).Provenance);
        Assert.Contains("\"gemm_version\": \"OpenBLAS 0.3.21 Haswell\"", File.ReadAllText(Path.Combine(dir.Path, CalibrationResult.JsonFile)));
    }
}
