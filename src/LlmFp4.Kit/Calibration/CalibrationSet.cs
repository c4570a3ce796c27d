using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// Calibration sequences. For a decoder, N windows of L consecutive tokens taken from a token stream at seeded random
/// offsets (System.Random(seed), start = Next(0, length - L + 1) per window, in order), as the LLM-FP4 reference samples
/// its calibration data (<see cref="Sample"/>). For a sentence encoder, N sentences of at most L tokens each, framed as the
/// encoder reads them at inference (<see cref="FromSentences"/>).
/// </summary>
public sealed class CalibrationSet
{
    private CalibrationSet(IReadOnlyList<int[]> windows, CalibrationDataSettings settings)
    {
        Windows = windows;
        Settings = settings;
    }

    /// <summary>The sequences: windows of L token ids, or framed sentences of at most L.</summary>
    public IReadOnlyList<int[]> Windows { get; }

    /// <summary>How they were drawn.</summary>
    public CalibrationDataSettings Settings { get; }

    /// <summary>Tokens over all sequences (N × L for windows).</summary>
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

    /// <summary>
    /// N = <see cref="CalibrationDataSettings.Samples"/> of <paramref name="sentences"/> chosen by a seeded shuffle
    /// (System.Random(seed).Shuffle of their indices, the first N, in that order), each encoded by
    /// <paramref name="encode"/>(text, L) with L = <see cref="CalibrationDataSettings.SequenceLength"/> as the maximum
    /// length: one sequence per sentence, as a sentence encoder reads its inputs (e.g. <c>[CLS] … [SEP]</c>).
    /// </summary>
    /// <exception cref="ArgumentException">Fewer sentences than N, or an encoding empty or longer than L; the message names <paramref name="source"/>.</exception>
    public static CalibrationSet FromSentences(IReadOnlyList<string> sentences, Func<string, int, int[]> encode, CalibrationDataSettings settings,
        string source = "sentences")
    {
        ArgumentNullException.ThrowIfNull(sentences);
        ArgumentNullException.ThrowIfNull(encode);
        ArgumentNullException.ThrowIfNull(settings);
        int length = settings.SequenceLength;
        if (settings.Samples < 1 || length < 2)
            throw new ArgumentException($"calibration: need at least 1 sentence of at most L ≥ 2 tokens, got {settings.Samples} × {length}.");
        if (sentences.Count < settings.Samples)
            throw new ArgumentException($"calibration: {source} has {sentences.Count} sentences, fewer than the {settings.Samples} asked for.");
        var indices = Enumerable.Range(0, sentences.Count).ToArray();
        new Random(settings.Seed).Shuffle(indices);
        var sequences = new int[settings.Samples][];
        for (int s = 0; s < sequences.Length; s++)
        {
            sequences[s] = encode(sentences[indices[s]], length);
            if (sequences[s].Length is 0 || sequences[s].Length > length)
                throw new ArgumentException($"calibration: {source}, sentence {indices[s] + 1} encodes to {sequences[s].Length} tokens, not 1..{length}.");
        }
        return new CalibrationSet(sequences, settings);
    }

    /// <summary>Tokenizes <paramref name="textPath"/> (the training split) and samples from it.</summary>
    public static CalibrationSet FromTextFile(string textPath, ITokenizer tokenizer, CalibrationDataSettings settings)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (!File.Exists(textPath)) throw new FileNotFoundException($"calibration: text file '{textPath}' not found.", textPath);
        return Sample(tokenizer.Encode(File.ReadAllText(textPath)), settings, textPath);
    }
}
