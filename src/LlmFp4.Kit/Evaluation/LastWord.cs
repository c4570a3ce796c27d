namespace LlmFp4.Kit.Evaluation;

/// <summary>A last-word prediction example: the passage up to its final word, and that word.</summary>
public sealed record LastWordExample(string Id, string Context, string Target);

/// <summary>
/// Last-word prediction with lm-eval's LAMBADA semantics: the request is (context, " " + target); <c>acc</c> is
/// whether greedy decoding reproduces every target token (<c>is_greedy</c>), <c>perplexity</c> is
/// <c>exp(-mean over examples of the target's summed log-likelihood)</c>.
/// </summary>
public static class LastWordEvaluator
{
    /// <summary>Scores each example as the request (context, " " + target), with greedy match; see <see cref="LoglikelihoodScorer.Score"/> for the exceptions.</summary>
    public static IReadOnlyList<LoglikelihoodResult> Score(LoglikelihoodScorer scorer, IReadOnlyList<LastWordExample> examples,
        IProgress<EvalProgress>? progress = null) =>
        scorer.Score([.. examples.Select(e => new LoglikelihoodRequest(e.Context, " " + e.Target))], greedy: true, progress);

    /// <summary>The task's metrics over scored examples: <c>acc</c> (fraction whose target is the greedy continuation) and <c>perplexity</c>, exp(−mean summed target log-likelihood in nats), each with its standard error.</summary>
    public static IReadOnlyList<MetricValue> Aggregate(IReadOnlyList<LoglikelihoodResult> results) =>
    [
        Metrics.Mean("acc", [.. results.Select(r => r.IsGreedy == true ? 1.0 : 0.0)]),
        Metrics.Perplexity("perplexity", [.. results.Select(r => r.LogLikelihood)]),
    ];
}
