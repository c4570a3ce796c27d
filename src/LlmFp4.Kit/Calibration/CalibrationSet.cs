using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// N windows of L consecutive tokens taken from a token stream at seeded random offsets (System.Random(seed),
/// start = Next(0, length - L + 1) per window, in order), as the LLM-FP4 reference samples its calibration data.
/// </summary>
public sealed class CalibrationSet
{
    private CalibrationSet(IReadOnlyList<int[]> windows, CalibrationDataSettings settings)
    {
        Windows = windows;
        Settings = settings;
    }

    /// <summary>The windows, each L token ids.</summary>
    public IReadOnlyList<int[]> Windows { get; }

    /// <summary>How they were drawn.</summary>
    public CalibrationDataSettings Settings { get; }

    /// <summary>N × L.</summary>
    public int TokenCount => Windows.Sum(w => w.Length);

    /// <exception cref="ArgumentException">The stream is shorter than one window.</exception>
    public static CalibrationSet Sample(ReadOnlySpan<int> tokens, CalibrationDataSettings settings, string source = "token stream")
    {
        ArgumentNullException.ThrowIfNull(settings);
        int length = settings.SequenceLength;
        if (settings.Samples < 1 || length < 2)
            throw new ArgumentException($"calibration: need at least 1 window of at least 2 tokens, got {settings.Samples} × {length}.");
        if (tokens.Length < length)
            throw new ArgumentException($"calibration: {source} has {tokens.Length} tokens, fewer than one window of {length}.");
        if ((long)settings.Samples * length > int.MaxValue / 4)
            throw new ArgumentException($"calibration: {settings.Samples} × {length} tokens is too large.");
        var random = new Random(settings.Seed);
        var windows = new int[settings.Samples][];
        for (int w = 0; w < windows.Length; w++)
        {
            int start = random.Next(0, tokens.Length - length + 1);
            windows[w] = tokens.Slice(start, length).ToArray();
        }
        return new CalibrationSet(windows, settings);
    }

    /// <summary>Tokenizes <paramref name="textPath"/> (the training split) and samples from it.</summary>
    public static CalibrationSet FromTextFile(string textPath, ITokenizer tokenizer, CalibrationDataSettings settings)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (!File.Exists(textPath)) throw new FileNotFoundException($"calibration: text file '{textPath}' not found.", textPath);
        return Sample(tokenizer.Encode(File.ReadAllText(textPath)), settings, textPath);
    }
}
