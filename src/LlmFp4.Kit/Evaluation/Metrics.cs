namespace LlmFp4.Kit.Evaluation;

/// <summary>Progress of a long evaluation step: <paramref name="Done"/> of <paramref name="Total"/> units.</summary>
public readonly record struct EvalProgress(int Done, int Total);

/// <summary>One aggregated metric of one task, e.g. <c>acc = 0.62 ± 0.02 over 500 examples</c>.</summary>
/// <param name="Metric">Metric name as lm-eval spells it.</param>
/// <param name="Value">Aggregated value.</param>
/// <param name="Stderr">Standard error of <paramref name="Value"/>; null where it is undefined (fewer than 2 examples).</param>
/// <param name="N">Examples aggregated.</param>
public sealed record MetricValue(string Metric, double Value, double? Stderr, int N);

/// <summary>Aggregations with lm-eval's definitions.</summary>
public static class Metrics
{
    /// <summary>
    /// Mean of <paramref name="values"/> and its standard error, lm-eval's <c>mean_stderr</c>: the sample
    /// standard deviation (n - 1 in the denominator) over sqrt(n). Sums run in index order in double.
    /// </summary>
    public static MetricValue Mean(string metric, IReadOnlyList<double> values)
    {
        int n = values.Count;
        if (n == 0)
            throw new ArgumentException($"Metric '{metric}' has no values to average.", nameof(values));
        double sum = 0;
        foreach (double v in values)
            sum += v;
        double mean = sum / n;
        if (n < 2)
            return new MetricValue(metric, mean, null, n);
        double squares = 0;
        foreach (double v in values)
            squares += (v - mean) * (v - mean);
        return new MetricValue(metric, mean, Math.Sqrt(squares / (n - 1)) / Math.Sqrt(n), n);
    }

    /// <summary>
    /// lm-eval's <c>perplexity</c> aggregation over per-example log-likelihoods: <c>exp(-mean(ll))</c>.
    /// Its standard error comes from the delta method, <c>ppl * stderr(mean ll)</c>, which is deterministic
    /// (lm-eval bootstraps it instead).
    /// </summary>
    public static MetricValue Perplexity(string metric, IReadOnlyList<double> logLikelihoods)
    {
        var meanLl = Mean(metric, logLikelihoods);
        double ppl = Math.Exp(-meanLl.Value);
        return new MetricValue(metric, ppl, meanLl.Stderr * ppl, meanLl.N);
    }
}
