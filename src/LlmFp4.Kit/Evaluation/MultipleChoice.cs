namespace LlmFp4.Kit.Evaluation;

/// <summary>
/// One choice of a multiple-choice example as lm-eval scores it: the log-likelihood of
/// <paramref name="Continuation"/> given <paramref name="Context"/>, normalised for <c>acc_norm</c> by the length of
/// <paramref name="ChoiceText"/> in Unicode code points (lm-eval divides by Python's <c>len</c> of the
/// <c>doc_to_choice</c> string, without the target delimiter: characters, not UTF-8 bytes or UTF-16 units).
/// </summary>
public sealed record Choice(string Context, string Continuation, string ChoiceText);

/// <summary>A multiple-choice example: its choices and the index of the right one.</summary>
public sealed record MultipleChoiceExample(string Id, IReadOnlyList<Choice> Choices, int Gold)
{
    /// <summary>lm-eval's target delimiter between a prompt and each choice.</summary>
    public const string TargetDelimiter = " ";

    /// <summary>The usual layout: one prompt, each choice appended after a space.</summary>
    public static MultipleChoiceExample Standard(string id, string context, IReadOnlyList<string> choices, int gold) =>
        new(id, [.. choices.Select(c => new Choice(context, TargetDelimiter + c, c))], gold);

    /// <summary>
    /// lm-eval's <c>multiple_inputs</c> layout (WinoGrande's partial scoring): the choices differ in the
    /// context and share one continuation, so the score is the likelihood of the same text after each context.
    /// </summary>
    public static MultipleChoiceExample Partial(string id, IReadOnlyList<string> contexts, string continuation, int gold) =>
        new(id, [.. contexts.Select(c => new Choice(c, TargetDelimiter + continuation, c))], gold);
}

/// <summary>Per-example outcome: the log-likelihood of each choice and the two predictions.</summary>
public sealed record ChoiceScores(string Id, double[] LogLikelihoods, int Prediction, int NormalizedPrediction, int Gold);

/// <summary>Multiple-choice accuracy with lm-eval's definitions (docs/methods.md §6).</summary>
public static class MultipleChoiceEvaluator
{
    /// <summary>
    /// Scores all choices of all examples in one batched pass of <paramref name="scorer"/>, then per example
    /// <c>acc</c> = [argmax of the summed log-likelihoods is gold] and <c>acc_norm</c> = [argmax of sum / length in
    /// characters is gold], the first maximum winning ties (numpy's argmax).
    /// </summary>
    public static IReadOnlyList<ChoiceScores> Score(LoglikelihoodScorer scorer, IReadOnlyList<MultipleChoiceExample> examples,
        IProgress<EvalProgress>? progress = null)
    {
        var requests = new List<LoglikelihoodRequest>();
        foreach (var example in examples)
        {
            if (example.Choices.Count < 2 || example.Gold < 0 || example.Gold >= example.Choices.Count)
                throw new ArgumentException(
                    $"Example {example.Id}: needs at least 2 choices and a gold index among them (has {example.Choices.Count} choices, gold {example.Gold}).");
            requests.AddRange(example.Choices.Select((c, i) => new LoglikelihoodRequest(c.Context, c.Continuation, $"Example {example.Id}, choice {i}")));
        }

        var results = scorer.Score(requests, greedy: false, progress);
        var scores = new ChoiceScores[examples.Count];
        int next = 0;
        for (int e = 0; e < examples.Count; e++)
        {
            var choices = examples[e].Choices;
            var lls = new double[choices.Count];
            var normalized = new double[choices.Count];
            for (int c = 0; c < choices.Count; c++)
            {
                lls[c] = results[next++].LogLikelihood;
                normalized[c] = lls[c] / Math.Max(1, CodePoints(choices[c].ChoiceText));
            }
            scores[e] = new ChoiceScores(examples[e].Id, lls, ArgMax(lls), ArgMax(normalized), examples[e].Gold);
        }
        return scores;
    }

    /// <summary><c>acc</c> and, if asked, <c>acc_norm</c>, each the mean of 0/1 outcomes with lm-eval's stderr.</summary>
    public static IReadOnlyList<MetricValue> Aggregate(IReadOnlyList<ChoiceScores> scores, bool includeAccNorm = true)
    {
        var metrics = new List<MetricValue>
        {
            Metrics.Mean("acc", [.. scores.Select(s => s.Prediction == s.Gold ? 1.0 : 0.0)]),
        };
        if (includeAccNorm)
            metrics.Add(Metrics.Mean("acc_norm", [.. scores.Select(s => s.NormalizedPrediction == s.Gold ? 1.0 : 0.0)]));
        return metrics;
    }

    /// <summary>Python's <c>len</c> of a string: Unicode code points (a surrogate pair counts once).</summary>
    public static int CodePoints(string text) => text.EnumerateRunes().Count();

    static int ArgMax(double[] values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best])
                best = i;
        return best;
    }
}
