using System.CommandLine;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Loading;
using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Quantization;
using Spectre.Console;

namespace LlmFp4.Kit.Cli;

/// <summary>A model in the kit's runtime, its tokenizer and the name results are filed under.</summary>
internal sealed record LoadedModel(string Name, LlamaModel Model, ITokenizer Tokenizer);

/// <summary>Reading models and calibration text for the verbs that quantize.</summary>
internal static class ModelFiles
{
    /// <summary>
    /// A <see cref="LlamaModel"/> from any checkpoint format the loaders read, in float32; with
    /// <paramref name="keepStoredWeights"/>, F16/BF16 linear weights stay memory-mapped (see
    /// <see cref="LlamaModel.FromCheckpoint"/>) and the checkpoint stays open for the rest of the process.
    /// </summary>
    public static LlamaModel Load(string path, bool keepStoredWeights = false)
    {
        var checkpoint = CheckpointLoader.Open(path);
        if (keepStoredWeights) return LlamaModel.FromCheckpoint(checkpoint, keepStoredWeights: true);
        using (checkpoint) return LlamaModel.FromCheckpoint(checkpoint);
    }

    /// <summary>The <c>--keep-stored-weights</c> flag of the verbs that run a model.</summary>
    public static Option<bool> KeepStoredWeightsOption() => new("--keep-stored-weights")
    {
        Description = "Keep F16/BF16 linear weights memory-mapped in the checkpoint and convert each layer when it runs (less memory, slower).",
    };

    /// <summary>
    /// A checkpoint in the float32 LLaMA runtime with its tokenizer: <paramref name="tokenizerPath"/> if given, else
    /// the <c>tokenizer.json</c> beside the checkpoint, else the kit's (data/tokenizer/tokenizer.json). The name
    /// (results are filed under it) is the folder or file name.
    /// </summary>
    public static LoadedModel LoadWithTokenizer(string path, string? tokenizerPath = null, bool keepStoredWeights = false)
    {
        var model = Load(path, keepStoredWeights);
        string folder = Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path))!;
        tokenizerPath ??= File.Exists(Path.Combine(folder, "tokenizer.json"))
            ? Path.Combine(folder, "tokenizer.json")
            : Path.Combine(TaskRegistry.FindDataDirectory("tokenizer"), "tokenizer", "tokenizer.json");
        return new LoadedModel(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(path))), model, BpeTokenizer.Load(tokenizerPath));
    }

    /// <summary>
    /// Loads or calibrates the <c>--quant</c> result (a `llmfp4 calibrate` folder, or a preset / JSON config, cached under
    /// results/calibration), puts it on <paramref name="model"/> and returns the label results are filed under ("name@hash").
    /// </summary>
    public static string Quantize(LlamaModel model, string quant, string modelPath)
    {
        var result = CalibrationCache.Resolve(quant, model, CalibrationCache.DefaultRoot,
            config => CalibrationSet(config.Calibration, null, null), modelSource: modelPath,
            progress: new SynchronousProgress<CalibrationProgress>(p =>
            {
                if (p.Stage == "layers") AnsiConsole.MarkupLineInterpolated($"[grey]calibrating {quant}: {p.Item} ({p.Done}/{p.Total})[/]");
            }));
        result.Apply(model);
        return $"{result.Config.Name ?? "config"}@{result.ConfigHash}";
    }

    /// <summary>Calibration windows from the training split (or <paramref name="textPath"/>) with the kit's tokenizer (or <paramref name="tokenizerPath"/>).</summary>
    public static CalibrationSet CalibrationSet(CalibrationDataSettings settings, string? textPath, string? tokenizerPath)
    {
        textPath ??= Path.Combine(TaskRegistry.FindDataDirectory("corpus"), "corpus", "train.txt");
        tokenizerPath ??= Path.Combine(TaskRegistry.FindDataDirectory("tokenizer"), "tokenizer", "tokenizer.json");
        return Calibration.CalibrationSet.FromTextFile(textPath, BpeTokenizer.Load(tokenizerPath), settings);
    }
}
