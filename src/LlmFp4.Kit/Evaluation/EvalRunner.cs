using System.Diagnostics;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Evaluation;

/// <summary>What identifies a run in its results: the model, its quantization and the seed behind them.</summary>
public sealed record EvalRunInfo(string Model, string? QuantConfig = null, int Seed = 0, int? Limit = null);

/// <summary>Progress of a run: which task, and how far its model calls have got.</summary>
public readonly record struct TaskProgress(string Task, int TaskIndex, int TaskCount, EvalProgress Step);

/// <summary>Runs tasks on one model setting and stamps each metric into an <see cref="EvalResult"/>.</summary>
public static class EvalRunner
{
    /// <summary>Evaluates each task in order with <paramref name="scorer"/> (the first <see cref="EvalRunInfo.Limit"/> examples of each, all when null) and returns one result per metric, stamped with <paramref name="info"/>, the task's wall time in seconds and <see cref="Provenance.Current"/>.</summary>
    /// <exception cref="ArgumentException">A limit below 1 with an example task.</exception>
    /// <exception cref="InvalidOperationException">A task with no usable examples.</exception>
    public static IReadOnlyList<EvalResult> Run(LoglikelihoodScorer scorer, IReadOnlyList<IEvalTask> tasks, EvalRunInfo info,
        IProgress<TaskProgress>? progress = null)
    {
        var results = new List<EvalResult>();
        var provenance = Provenance.Current;
        for (int t = 0; t < tasks.Count; t++)
        {
            var task = tasks[t];
            int index = t;
            var stepProgress = progress is null ? null
                : new SynchronousProgress<EvalProgress>(step => progress.Report(new TaskProgress(task.DisplayName, index, tasks.Count, step)));
            var clock = Stopwatch.StartNew();
            var metrics = task.Evaluate(scorer, info.Limit, stepProgress);
            double seconds = clock.Elapsed.TotalSeconds;
            results.AddRange(metrics.Select(m =>
                new EvalResult(info.Model, info.QuantConfig, task.Name, m.Metric, m.Value, m.Stderr, m.N, info.Seed, seconds, provenance.KitVersion, provenance)));
        }
        return results;
    }
}
