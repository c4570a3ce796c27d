using LlmFp4.Kit.Evaluation;

namespace LlmFp4.Kit.Tests.Evaluation;

public class TaskRegistryTests
{
    const string ContinuationLine = """{"id": "continuation-0000", "context": "It rained.", "choices": ["We stayed in.", "Cats purr.", "Rust is red.", "Tea is hot."], "label": 0}""";
    const string LastWordLine = """{"id": "lastword-0000", "context": "The dog saw another dog and barked at the", "target": "dog"}""";

    [Fact]
    public void StandInsResolveToTheDataFolderFoundWalkingUp()
    {
        using var dir = new TempDirectory();
        dir.File("data/tasks/continuation.jsonl", ContinuationLine);
        dir.File("data/tasks/lastword.jsonl", LastWordLine);
        string nested = Directory.CreateDirectory(Path.Combine(dir.Path, "notebooks", "deep")).FullName;

        Assert.Equal(Path.Combine(dir.Path, "data"), TaskRegistry.FindDataDirectory(start: nested));
        var tasks = TaskRegistry.Parse("continuation, lastword", Path.Combine(dir.Path, "data"));
        Assert.Equal(["continuation (stand-in)", "lastword (stand-in)"], tasks.Select(t => t.DisplayName));
        Assert.IsType<MultipleChoiceTask>(tasks[0]);
        Assert.IsType<LastWordTask>(tasks[1]);
    }

    [Fact]
    public void BenchmarksTakeTheirPathAfterAColon()
    {
        using var dir = new TempDirectory();
        string piqa = dir.File("piqa.jsonl", """{"goal": "g", "sol1": "a", "sol2": "b", "label": 1}""");
        string boolq = dir.File("boolq.jsonl", """{"question": "q", "passage": "p", "answer": false}""");

        var tasks = TaskRegistry.Parse($"piqa:{piqa},boolq:{boolq}");

        Assert.Equal(["piqa", "boolq"], tasks.Select(t => t.Name));
        Assert.False(((MultipleChoiceTask)tasks[1]).IncludeAccNorm);
    }

    [Fact]
    public void PerplexityScoresTheHeldOutSplitByDefault()
    {
        using var dir = new TempDirectory();
        dir.File("data/corpus/test.txt", "abcabc");

        var task = TaskRegistry.Load("perplexity", Path.Combine(dir.Path, "data"));
        var metrics = task.Evaluate(new LoglikelihoodScorer(new ConstantModel(4), new CharTokenizer()));

        // BOS + 6 characters, one nat each: perplexity e, 6 nats over 6 bytes.
        Assert.Equal(["perplexity", "bits_per_byte"], metrics.Select(m => m.Metric));
        Assert.Equal(Math.E, metrics[0].Value, 6);
        Assert.Equal(1 / Math.Log(2), metrics[1].Value, 6);
        Assert.Equal(6, metrics[0].N);
    }

    [Fact]
    public void UnknownTasksAndMissingPathsAreClearErrors()
    {
        Assert.Contains("Unknown task 'lambada'", Assert.Throws<ArgumentException>(() => TaskRegistry.Parse("lambada")).Message);
        Assert.Contains("piqa:PATH", Assert.Throws<ArgumentException>(() => TaskRegistry.Parse("piqa")).Message);
    }

    [Fact]
    public void TasksScoreTheFirstLimitExamples()
    {
        using var dir = new TempDirectory();
        dir.File("data/tasks/continuation.jsonl", string.Join("\n", Enumerable.Repeat(ContinuationLine, 5)));
        var task = TaskRegistry.Load("continuation", Path.Combine(dir.Path, "data"));

        var metrics = task.Evaluate(new LoglikelihoodScorer(new ConstantModel(), new CharTokenizer()), limit: 3);

        Assert.All(metrics, m => Assert.Equal(3, m.N));
        Assert.Equal(["acc", "acc_norm"], metrics.Select(m => m.Metric));
    }

    [Fact]
    public void LastWordReportsGreedyAccuracyAndPerplexity()
    {
        using var dir = new TempDirectory();
        dir.File("data/tasks/lastword.jsonl", LastWordLine);
        var model = new BigramModel(130, 128);
        var task = TaskRegistry.Load("lastword", Path.Combine(dir.Path, "data"));

        var metrics = task.Evaluate(new LoglikelihoodScorer(model, new CharTokenizer()));

        double ll = model.LogProb('e', ' ') + model.LogProb(' ', 'd') + model.LogProb('d', 'o') + model.LogProb('o', 'g');
        Assert.Equal("acc", metrics[0].Metric);
        Assert.Equal(0, metrics[0].Value);
        Assert.Equal("perplexity", metrics[1].Metric);
        Assert.Equal(-ll, Math.Log(metrics[1].Value), 5);
    }
}
