using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Loading;
using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Cli;

/// <summary>Reading models and calibration text for the verbs that quantize.</summary>
internal static class ModelFiles
{
    /// <summary>A float32 <see cref="LlamaModel"/> from any checkpoint format the loaders read.</summary>
    public static LlamaModel Load(string path) => CheckpointLoader.LoadModel(path);

    /// <summary>Calibration windows from the training split (or <paramref name="textPath"/>) with the kit's tokenizer (or <paramref name="tokenizerPath"/>).</summary>
    public static CalibrationSet CalibrationSet(CalibrationDataSettings settings, string? textPath, string? tokenizerPath)
    {
        textPath ??= Path.Combine(TaskRegistry.FindDataDirectory("corpus"), "corpus", "train.txt");
        tokenizerPath ??= Path.Combine(TaskRegistry.FindDataDirectory("tokenizer"), "tokenizer", "tokenizer.json");
        return Calibration.CalibrationSet.FromTextFile(textPath, BpeTokenizer.Load(tokenizerPath), settings);
    }
}
