namespace LlmFp4.Kit.Evaluation;

/// <summary>
/// Perplexity of a whole text file (e.g. the corpus's held-out split) as a task: metrics <c>perplexity</c>
/// (per token) and <c>bits_per_byte</c>, with N = tokens scored. The limit of example tasks does not apply:
/// the text is scored whole (or its first <see cref="PerplexityOptions.MaxTokens"/> tokens), so the number stays
/// comparable between runs with the same options.
/// </summary>
public sealed class PerplexityTask(string name, string path, PerplexityOptions? options = null) : IEvalTask
{
    public string Name { get; } = name;
    public string DisplayName => Name;
    public string Path { get; } = File.Exists(path) ? path : throw new FileNotFoundException($"Text file not found: {path}", path);
    public PerplexityOptions Options { get; } = options ?? new PerplexityOptions();
    public int Count => 1;
    public IReadOnlyList<SkippedRecord> Skipped => [];

    public IReadOnlyList<MetricValue> Evaluate(LoglikelihoodScorer scorer, int? limit = null, IProgress<EvalProgress>? progress = null)
    {
        var result = PerplexityEvaluator.Evaluate(scorer.Model, scorer.Tokenizer, File.ReadAllText(Path),
            Options with { AddBosToken = scorer.Options.AddBosToken }, progress);
        int tokens = (int)Math.Min(int.MaxValue, result.TokenCount);
        return [new("perplexity", result.Perplexity, null, tokens), new("bits_per_byte", result.BitsPerByte!.Value, null, tokens)];
    }
}
