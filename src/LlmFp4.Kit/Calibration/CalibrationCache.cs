using System.Security.Cryptography;
using System.Text;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// Results filed by model, config and GEMM: <c>{root}/{model weights hash}-{config hash}-{GEMM version hash}</c>, so a
/// config is searched once per model and evaluated any number of times, and a GEMM with another summation order (whose
/// results differ in their last bits, <see cref="IGemmBackend.Version"/>) searches again instead of reusing them.
/// </summary>
public static class CalibrationCache
{
    /// <summary>Where results go when no folder is named: <c>results/calibration</c> under the current directory.</summary>
    public static string DefaultRoot => Path.Combine("results", "calibration");

    /// <summary>The folder of <paramref name="config"/>'s result on <paramref name="model"/> under <paramref name="root"/>, with the GEMM in use now.</summary>
    public static string DirectoryFor(string root, ModelIdentity model, QuantConfig config) =>
        DirectoryFor(root, model, config, Gemm.Backend.Version);

    /// <summary>The folder of <paramref name="config"/>'s result on <paramref name="model"/> under <paramref name="root"/> with a GEMM of version <paramref name="gemmVersion"/> (<see cref="IGemmBackend.Version"/>).</summary>
    public static string DirectoryFor(string root, ModelIdentity model, QuantConfig config, string gemmVersion) =>
        Path.Combine(root, $"{model.WeightsSha256}-{config.Hash}-{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(gemmVersion)))[..8]}");

    /// <summary>
    /// Resolves a <c>--quant</c> argument for <paramref name="model"/>: a saved result folder is loaded; a preset name or
    /// config file is looked up in <paramref name="root"/>, and calibrated (then saved there) when missing.
    /// <paramref name="calibrationSet"/> is called only then.
    /// </summary>
    public static CalibrationResult Resolve(string quant, IQuantizableModel model, string root, Func<QuantConfig, CalibrationSet> calibrationSet,
        IProgress<CalibrationProgress>? progress = null, string? modelSource = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(quant);
        if (Directory.Exists(quant))
            return CalibrationResult.Load(quant);
        return GetOrCalibrate(QuantConfig.Resolve(quant), model, root, calibrationSet, force: false, progress, modelSource).Result;
    }

    /// <summary>
    /// The saved result of <paramref name="config"/> on <paramref name="model"/> from <paramref name="root"/> (Reused = true), or
    /// a fresh calibration saved there when none exists or <paramref name="force"/> is set. <paramref name="calibrationSet"/>
    /// is called only to calibrate. The model must be the full-precision one (calibration captures its activations).
    /// </summary>
    public static (CalibrationResult Result, bool Reused) GetOrCalibrate(QuantConfig config, IQuantizableModel model, string root,
        Func<QuantConfig, CalibrationSet> calibrationSet, bool force = false, IProgress<CalibrationProgress>? progress = null, string? modelSource = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(calibrationSet);
        string directory = DirectoryFor(root, ModelIdentity.Of(model, modelSource), config);
        if (!force && File.Exists(Path.Combine(directory, CalibrationResult.JsonFile)))
            return (CalibrationResult.Load(directory), true);
        var result = Calibrator.Run(model, config, calibrationSet(config), progress, modelSource);
        result.Save(directory);
        return (result, false);
    }
}
