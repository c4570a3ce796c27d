namespace LlmFp4.Kit.Evaluation;

/// <summary>
/// Perplexity of a whole text file (e.g. the corpus's held-out split) as a task: metrics <c>perplexity</c>
/// (per token) and <c>bits_per_byte</c>, with N = tokens scored. The limit of example tasks does not apply:
/// the text is scored whole (or its first <see cref="PerplexityOptions.MaxTokens"/> tokens), so the number stays
/// comparable between runs with the same options.
/// </summary>
public sealed class PerplexityTask(string name, string path, PerplexityOptions? options = null) : IEvalTask
{
    /// <inheritdoc/>
    public string Name { get; } = name;
    /// <summary>The task name as given (a perplexity task is never a stand-in).</summary>
    public string DisplayName => Name;
    /// <summary>The text file scored.</summary>
    /// <exception cref="FileNotFoundException">Thrown at construction when no file is at the path.</exception>
    public string Path { get; } = File.Exists(path) ? path : throw new FileNotFoundException($"Text file not found: {path}", path);
    /// <summary>Window length, stride and token cap; the scorer's <see cref="ScoringOptions.AddBosToken"/> overrides the BOS setting.</summary>
    public PerplexityOptions Options { get; } = options ?? new PerplexityOptions();
    /// <summary>1: the file is one example.</summary>
    public int Count => 1;
    /// <summary>Always empty: a text file has no records to skip.</summary>
    public IReadOnlyList<SkippedRecord> Skipped => [];

    /// <summary>The same task scoring only the first <paramref name="maxTokens"/> tokens of the file; null leaves it as it is.</summary>
    public PerplexityTask WithMaxTokens(int? maxTokens) => maxTokens is null ? this : new(Name, Path, Options with { MaxTokens = maxTokens });

    /// <summary>Perplexity per token and bits per byte of the whole file (<paramref name="limit"/> is ignored so that the number stays comparable); N is the number of tokens scored.</summary>
    public IReadOnlyList<MetricValue> Evaluate(LoglikelihoodScorer scorer, int? limit = null, IProgress<EvalProgress>? progress = null)
    {
        var result = PerplexityEvaluator.Evaluate(scorer.Model, scorer.Tokenizer, File.ReadAllText(Path),
            Options with { AddBosToken = scorer.Options.AddBosToken }, progress);
        int tokens = (int)Math.Min(int.MaxValue, result.TokenCount);
        return [new("perplexity", result.Perplexity, null, tokens), new("bits_per_byte", result.BitsPerByte!.Value, null, tokens)];
    }
}
