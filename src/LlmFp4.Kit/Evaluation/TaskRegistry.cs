namespace LlmFp4.Kit.Evaluation;

/// <summary>
/// Turns a task list such as <c>continuation,lastword,piqa:data/piqa/valid.jsonl,arc_easy:ARC-Easy-Dev.jsonl</c>
/// into tasks. The stand-ins need no path: they resolve to <c>tasks/NAME.jsonl</c> under the data directory,
/// given explicitly or found by walking up from the current directory to the first <c>data/tasks</c> folder.
/// <c>perplexity</c> scores a text file, by default the corpus's held-out split <c>corpus/test.txt</c>.
/// Public benchmarks need <c>name:path</c> since their files are not shipped.
/// </summary>
public static class TaskRegistry
{
    /// <summary>Task names with their readers; stand-ins first.</summary>
    public static IReadOnlyList<string> Known { get; } =
        [StandInTasks.Continuation, StandInTasks.LastWord, Perplexity, "piqa", "arc_easy", "arc_challenge", "hellaswag", "boolq", "winogrande", "openbookqa"];

    /// <summary>Registry name of the text-file perplexity task.</summary>
    public const string Perplexity = "perplexity";

    /// <summary>The kit's held-out split, <c>data/corpus/test.txt</c>: perplexity's default text and the decoders' fidelity text.</summary>
    public static string HeldOutText(string? dataDirectory = null) => Path.Combine(dataDirectory ?? FindDataDirectory("corpus"), "corpus", "test.txt");

    /// <summary>Parses a comma-separated task list and reads every task file.</summary>
    public static IReadOnlyList<IEvalTask> Parse(string spec, string? dataDirectory = null)
    {
        var entries = spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (entries.Length == 0)
            throw new ArgumentException("No tasks given. Known tasks: " + string.Join(", ", Known) + ".");
        return [.. entries.Select(e => Load(e, dataDirectory))];
    }

    /// <summary>Reads one <c>name</c> or <c>name:path</c> entry.</summary>
    public static IEvalTask Load(string entry, string? dataDirectory = null)
    {
        int colon = entry.IndexOf(':');
        string name = (colon < 0 ? entry : entry[..colon]).Trim().ToLowerInvariant();
        string? path = colon < 0 ? null : entry[(colon + 1)..].Trim();
        if (!Known.Contains(name))
            throw new ArgumentException($"Unknown task '{name}'. Known tasks: {string.Join(", ", Known)}.");
        if (path is null && name == Perplexity)
            path = HeldOutText(dataDirectory);
        if (path is null)
        {
            if (!StandInTasks.IsStandIn(name))
                throw new ArgumentException($"Task '{name}' needs its file: write {name}:PATH (the benchmark files are not shipped with the kit).");
            path = Path.Combine(dataDirectory ?? FindDataDirectory(), "tasks", name + ".jsonl");
        }

        return name switch
        {
            StandInTasks.Continuation => new MultipleChoiceTask(name, StandInTasks.ReadContinuation(path)),
            StandInTasks.LastWord => new LastWordTask(name, StandInTasks.ReadLastWord(path)),
            Perplexity => new PerplexityTask(name, path),
            "piqa" => new MultipleChoiceTask(name, PublicTaskReaders.Piqa(path)),
            "arc_easy" or "arc_challenge" => new MultipleChoiceTask(name, PublicTaskReaders.Arc(path)),
            "hellaswag" => new MultipleChoiceTask(name, PublicTaskReaders.HellaSwag(path)),
            "boolq" => new MultipleChoiceTask(name, PublicTaskReaders.BoolQ(path), includeAccNorm: false),
            "winogrande" => new MultipleChoiceTask(name, PublicTaskReaders.WinoGrande(path), includeAccNorm: false),
            "openbookqa" => new MultipleChoiceTask(name, PublicTaskReaders.OpenBookQa(path)),
            _ => throw new InvalidOperationException($"Task '{name}' is listed as known but has no reader."),
        };
    }

    /// <summary>
    /// The first <c>data</c> folder holding <paramref name="child"/> (default <c>tasks</c>), from
    /// <paramref name="start"/> (default: the current directory) upwards.
    /// </summary>
    public static string FindDataDirectory(string child = "tasks", string? start = null)
    {
        for (var directory = new DirectoryInfo(start ?? Directory.GetCurrentDirectory()); directory is not null; directory = directory.Parent)
        {
            string candidate = Path.Combine(directory.FullName, "data");
            if (Directory.Exists(Path.Combine(candidate, child)))
                return candidate;
        }
        throw new DirectoryNotFoundException(
            $"No data/{child} folder found from {start ?? Directory.GetCurrentDirectory()} upwards; give the data directory explicitly" +
            (child == "tasks" ? " or generate the stand-ins with `llmfp4 tasks generate`." : "."));
    }
}
