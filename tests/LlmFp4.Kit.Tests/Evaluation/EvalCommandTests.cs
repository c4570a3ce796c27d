using LlmFp4.Kit.Cli.Commands;
using LlmFp4.Kit.Evaluation;

namespace LlmFp4.Kit.Tests.Evaluation;

[Collection(ProcessWideStateCollection.Name)]
public class EvalCommandTests
{
    [Fact]
    public void GeneratesStandInsThenEvaluatesAModelOnThem()
    {
        using var dir = new TempDirectory();
        string corpus = dir.File("data/corpus/test.txt", string.Join("\n\n", Enumerable.Range(0, 6).Select(d =>
            string.Join(" ", Enumerable.Range(0, 12).Select(s => $"Sentence {s} of part {d} tells of the lamp and the lamp{(s % 3 == 0 ? " again" : "")}.")))));
        string tasks = Path.Combine(dir.Path, "data", "tasks");
        string results = Path.Combine(dir.Path, "out", "results.jsonl");

        Assert.Equal(0, TasksCommand.Create().Parse(["generate", "--corpus", corpus, "--out", tasks, "--seed", "1", "--count", "5"]).Invoke());
        var eval = EvalCommand.Create(path => new EvalModel(path, new BigramModel(130, 512), new CharTokenizer()));
        int exit = eval.Parse(["--model", "bigram", "--tasks", "continuation,lastword,perplexity", "--data-dir", Path.Combine(dir.Path, "data"),
            "--limit", "3", "--seed", "7", "--out", results]).Invoke();

        Assert.Equal(0, exit);
        var written = EvalResultFiles.ReadJsonLines(results);
        Assert.Equal(["continuation/acc", "continuation/acc_norm", "lastword/acc", "lastword/perplexity", "perplexity/perplexity", "perplexity/bits_per_byte"],
            written.Select(r => $"{r.Task}/{r.Metric}"));
        Assert.All(written.Take(4), r => Assert.Equal(("bigram", 3, 7), (r.Model, r.N, r.Seed)));
        Assert.True(File.Exists(Path.ChangeExtension(results, ".csv")));
    }

    [Fact]
    public void QuantizedEvaluationNeedsALlamaModel()
    {
        using var dir = new TempDirectory();
        dir.File("data/corpus/test.txt", "some held-out text");
        var eval = EvalCommand.Create(path => new EvalModel(path, new BigramModel(130, 512), new CharTokenizer()));
        var error = Assert.Throws<NotSupportedException>(() => eval.Parse(["--model", "m", "--quant", "fpq:4/4/4", "--tasks", "perplexity",
            "--data-dir", Path.Combine(dir.Path, "data")]).Invoke(new() { EnableDefaultExceptionHandler = false }));
        Assert.Contains("LLaMA", error.Message);
    }
}
