namespace LlmFp4.Kit.Evaluation;

/// <summary>A task the harness can run: its examples, the records it skipped while reading, and how it is scored.</summary>
public interface IEvalTask
{
    /// <summary>Registry name, as written in results (e.g. <c>piqa</c>, <c>continuation</c>).</summary>
    string Name { get; }

    /// <summary>Name shown to people; stand-in tasks say so.</summary>
    string DisplayName { get; }

    /// <summary>Usable examples.</summary>
    int Count { get; }

    /// <summary>Records left out because a field was missing or unusable.</summary>
    IReadOnlyList<SkippedRecord> Skipped { get; }

    /// <summary>Scores the first <paramref name="limit"/> examples (all when null), lm-eval's <c>--limit</c>.</summary>
    IReadOnlyList<MetricValue> Evaluate(LoglikelihoodScorer scorer, int? limit = null, IProgress<EvalProgress>? progress = null);
}

/// <summary>A multiple-choice task (acc, and acc_norm where lm-eval reports it).</summary>
public sealed class MultipleChoiceTask(string name, TaskFile<MultipleChoiceExample> file, bool includeAccNorm = true) : IEvalTask
{
    /// <inheritdoc/>
    public string Name { get; } = name;
    /// <inheritdoc/>
    public string DisplayName => StandInTasks.DisplayName(Name);
    /// <summary>The questions, in file order.</summary>
    public IReadOnlyList<MultipleChoiceExample> Examples { get; } = file.Items;
    /// <inheritdoc/>
    public int Count => Examples.Count;
    /// <inheritdoc/>
    public IReadOnlyList<SkippedRecord> Skipped { get; } = file.Skipped;
    /// <summary>Whether acc_norm (length-normalised accuracy) is reported beside acc; lm-eval reports it for hellaswag, piqa, arc, openbookqa, not for winogrande or boolq.</summary>
    public bool IncludeAccNorm { get; } = includeAccNorm;

    /// <inheritdoc/>
    /// <exception cref="ArgumentException"><paramref name="limit"/> below 1.</exception>
    /// <exception cref="InvalidOperationException">The task has no usable examples.</exception>
    public IReadOnlyList<MetricValue> Evaluate(LoglikelihoodScorer scorer, int? limit = null, IProgress<EvalProgress>? progress = null) =>
        MultipleChoiceEvaluator.Aggregate(MultipleChoiceEvaluator.Score(scorer, Take(Examples, limit, Name), progress), IncludeAccNorm);

    internal static IReadOnlyList<T> Take<T>(IReadOnlyList<T> items, int? limit, string name)
    {
        if (limit is < 1)
            throw new ArgumentException($"Limit must be at least 1, got {limit}.", nameof(limit));
        var taken = limit is int n && n < items.Count ? items.Take(n).ToList() : items;
        return taken.Count > 0 ? taken : throw new InvalidOperationException($"Task {name} has no usable examples.");
    }
}

/// <summary>A last-word prediction task (acc by greedy exact match, perplexity of the word).</summary>
public sealed class LastWordTask(string name, TaskFile<LastWordExample> file) : IEvalTask
{
    /// <inheritdoc/>
    public string Name { get; } = name;
    /// <inheritdoc/>
    public string DisplayName => StandInTasks.DisplayName(Name);
    /// <summary>The passages, in file order.</summary>
    public IReadOnlyList<LastWordExample> Examples { get; } = file.Items;
    /// <inheritdoc/>
    public int Count => Examples.Count;
    /// <inheritdoc/>
    public IReadOnlyList<SkippedRecord> Skipped { get; } = file.Skipped;

    /// <inheritdoc/>
    /// <exception cref="ArgumentException"><paramref name="limit"/> below 1.</exception>
    /// <exception cref="InvalidOperationException">The task has no usable examples.</exception>
    public IReadOnlyList<MetricValue> Evaluate(LoglikelihoodScorer scorer, int? limit = null, IProgress<EvalProgress>? progress = null) =>
        LastWordEvaluator.Aggregate(LastWordEvaluator.Score(scorer, MultipleChoiceTask.Take(Examples, limit, Name), progress));
}
