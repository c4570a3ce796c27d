using System.Text;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Tokenizers;

namespace LlmFp4.Kit.Evaluation;

/// <summary>How a token stream is cut into windows for perplexity.</summary>
/// <param name="WindowLength">Tokens per model call (default and maximum: the model's context length).</param>
/// <param name="Stride">
/// New tokens scored per window after the first. Default <c>WindowLength - 1</c>: non-overlapping windows that
/// carry one token over, so every token is scored and each window restarts with almost no context (lm-eval's
/// <c>loglikelihood_rolling</c>). Smaller strides give the sliding evaluation of Hugging Face's "perplexity of
/// fixed-length models": each token still scored exactly once, with <c>WindowLength - Stride</c> or more tokens
/// of left context (up to <c>WindowLength - 1</c> at stride 1), at the cost of more model calls.
/// </param>
/// <param name="BatchSize">Windows per model call.</param>
/// <param name="AddBosToken">For text input: how the text is encoded, as <see cref="ScoringOptions.AddBosToken"/>.</param>
/// <param name="MaxTokens">
/// For text input: keep only the first this many tokens of the text (the prefix token not counted); bits per byte then
/// count the UTF-8 bytes those tokens decode to. Null scores the whole text.
/// </param>
public sealed record PerplexityOptions(int? WindowLength = null, int? Stride = null, int BatchSize = 8, bool? AddBosToken = null, int? MaxTokens = null);

/// <summary>Perplexity of a token stream.</summary>
/// <param name="Perplexity">exp(mean NLL) per scored token.</param>
/// <param name="MeanNll">Mean negative log-likelihood per scored token, in nats.</param>
/// <param name="BitsPerByte">Total NLL in bits over the UTF-8 bytes of the text; null for a bare token stream.</param>
/// <param name="TokenCount">Tokens scored (every token of the stream but the first).</param>
/// <param name="ByteCount">UTF-8 bytes of the text; null for a bare token stream.</param>
/// <param name="WindowCount">Sequences the model scored.</param>
public sealed record PerplexityResult(double Perplexity, double MeanNll, double? BitsPerByte, long TokenCount,
    long? ByteCount, int WindowCount);

/// <summary>One model call of a perplexity run: the tokens <c>[Start, End)</c>, of which <c>[FirstTarget, End)</c> are scored.</summary>
public readonly record struct ScoringWindow(int Start, int End, int FirstTarget);

/// <summary>Token-level perplexity and bits per byte over a text or a token stream.</summary>
public static class PerplexityEvaluator
{
    /// <summary>
    /// Tokenizes <paramref name="text"/> and scores every token of it, as lm-eval's <c>loglikelihood_rolling</c>: the
    /// text is encoded as <c>tok_encode</c> does (<see cref="PerplexityOptions.AddBosToken"/>) and its first window is
    /// conditioned on the prefix token (BOS, else EOS; <c>get_rolling_token_windows</c>' <c>prefix_token</c>). Where
    /// the tokenizer itself starts the text with that token (a LLaMA tokenizer's BOS), it is the prefix and is not
    /// scored a second time; with no BOS or EOS the first token of the text is context only.
    /// </summary>
    public static PerplexityResult Evaluate(ICausalLanguageModel model, ITokenizer tokenizer, string text,
        PerplexityOptions? options = null, IProgress<EvalProgress>? progress = null)
    {
        options ??= new PerplexityOptions();
        if (options.MaxTokens is < 1)
            throw new ArgumentException($"MaxTokens must be at least 1, got {options.MaxTokens}.", nameof(options));
        int[] tokens = new ScoringOptions(AddBosToken: options.AddBosToken).Encode(tokenizer, text);
        int? prefix = ScoringOptions.PrefixToken(tokenizer);
        if (prefix is int p && tokens.Length > 0 && tokens[0] == p)
            tokens = tokens[1..];
        bool truncated = options.MaxTokens is int max && max < tokens.Length;
        if (truncated) tokens = tokens[..options.MaxTokens!.Value];
        long bytes = Encoding.UTF8.GetByteCount(truncated ? tokenizer.Decode(tokens) : text);
        if (prefix is int first)
            tokens = [first, .. tokens];
        return Evaluate(model, tokens, bytes, options, progress);
    }

    /// <summary>
    /// Scores every token of <paramref name="tokens"/> but the first exactly once, in the windows of
    /// <see cref="PlanWindows"/>. NLLs are summed in double in stream order. <paramref name="byteCount"/>,
    /// when given, is the UTF-8 size of the text the stream came from (for bits per byte).
    /// </summary>
    public static PerplexityResult Evaluate(ICausalLanguageModel model, IReadOnlyList<int> tokens, long? byteCount,
        PerplexityOptions? options = null, IProgress<EvalProgress>? progress = null)
    {
        options ??= new PerplexityOptions();
        int windowLength = options.WindowLength ?? model.ContextLength;
        if (windowLength < 2 || windowLength > model.ContextLength)
            throw new ArgumentException(
                $"Window length must be between 2 and the model's context length {model.ContextLength}, got {windowLength}.", nameof(options));
        int stride = options.Stride ?? windowLength - 1;
        if (options.BatchSize < 1)
            throw new ArgumentException($"Batch size must be at least 1, got {options.BatchSize}.", nameof(options));
        if (byteCount is <= 0)
            throw new ArgumentException($"Byte count must be positive, got {byteCount}.", nameof(byteCount));

        var windows = PlanWindows(tokens.Count, windowLength, stride);
        double totalNll = 0;
        long scored = 0;
        var batch = new List<int[]>(options.BatchSize);
        for (int first = 0; first < windows.Count; first += options.BatchSize)
        {
            int count = Math.Min(options.BatchSize, windows.Count - first);
            batch.Clear();
            for (int w = first; w < first + count; w++)
                batch.Add(Slice(tokens, windows[w].Start, windows[w].End));
            var logProbs = model.TokenLogProbs(batch);
            for (int b = 0; b < count; b++)
            {
                var window = windows[first + b];
                if (logProbs[b].Length != window.End - window.Start - 1)
                    throw new InvalidOperationException(
                        $"{model.GetType().Name} returned {logProbs[b].Length} scores for a window of {window.End - window.Start} tokens.");
                // Token p of the window is predicted at output position p - 1.
                for (int p = window.FirstTarget - window.Start; p < window.End - window.Start; p++)
                    totalNll -= logProbs[b][p - 1];
                scored += window.End - window.FirstTarget;
            }
            progress?.Report(new EvalProgress(first + count, windows.Count));
        }

        double meanNll = totalNll / scored;
        double? bitsPerByte = byteCount is long bytes ? totalNll / Math.Log(2) / bytes : null;
        return new PerplexityResult(Math.Exp(meanNll), meanNll, bitsPerByte, scored, byteCount, windows.Count);
    }

    /// <summary>
    /// Windows that score tokens <c>1 .. streamLength-1</c> exactly once: the first window scores all it can
    /// (<c>[1, windowLength)</c>), each later one the next <paramref name="stride"/> tokens, seeing as much left
    /// context as fits in <paramref name="windowLength"/>.
    /// </summary>
    public static IReadOnlyList<ScoringWindow> PlanWindows(int streamLength, int windowLength, int stride)
    {
        if (streamLength < 2)
            throw new ArgumentException($"Perplexity needs at least 2 tokens, got {streamLength}.", nameof(streamLength));
        if (windowLength < 2)
            throw new ArgumentException($"Window length must be at least 2, got {windowLength}.", nameof(windowLength));
        if (stride < 1 || stride > windowLength - 1)
            throw new ArgumentException(
                $"Stride must be between 1 and window length - 1 = {windowLength - 1} (one token of context), got {stride}.", nameof(stride));

        int end = Math.Min(windowLength, streamLength);
        var windows = new List<ScoringWindow> { new(0, end, 1) };
        while (end < streamLength)
        {
            int next = Math.Min(end + stride, streamLength);
            windows.Add(new ScoringWindow(Math.Max(0, next - windowLength), next, end));
            end = next;
        }
        return windows;
    }

    static int[] Slice(IReadOnlyList<int> tokens, int start, int end)
    {
        var slice = new int[end - start];
        for (int i = 0; i < slice.Length; i++)
            slice[i] = tokens[start + i];
        return slice;
    }
}
