using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Tests.Evaluation;

public class EvalResultTests
{
    static readonly EvalResult[] Results =
    [
        new("tiny", null, "continuation", "acc", 0.5, 0.25, 4, 0, 1.5, "0.1.0"),
        new("tiny", """{"w":"E2M1","a":"E2M1"}""", "piqa", "acc_norm", 0.125, null, 8, 3, 0.25, "0.1.0",
            new Provenance("0.1.0", "0123abcd", "managed (Vector512 6×32 kernel, 2 threads)", ManagedGemm.OrderVersion)),
    ];

    [Fact]
    public void JsonLinesRoundTrip()
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "out", "results.jsonl");

        EvalResultFiles.WriteJsonLines(path, Results);

        Assert.Equal(Results, EvalResultFiles.ReadJsonLines(path));
        Assert.Equal([Path.GetFileName(path)], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
    }

    [Fact]
    public void CsvQuotesTheQuantConfig()
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "results.csv");

        EvalResultFiles.WriteCsv(path, Results);

        Assert.Equal(
        [
            "model,quant_config,task,metric,value,stderr,n,seed,wall_time_s,kit_version,commit,gemm_backend,gemm_version",
            "tiny,,continuation,acc,0.5,0.25,4,0,1.5,0.1.0,,,",
            "tiny,\"{\"\"w\"\":\"\"E2M1\"\",\"\"a\"\":\"\"E2M1\"\"}\",piqa,acc_norm,0.125,,8,3,0.25,0.1.0,0123abcd,\"managed (Vector512 6×32 kernel, 2 threads)\","
                + $"\"{ManagedGemm.OrderVersion}\"",
        ], File.ReadAllLines(path));
    }

    [Fact]
    public void RunnerStampsEveryMetricWithTheRunSettings()
    {
        using var dir = new TempDirectory();
        dir.File("data/tasks/continuation.jsonl",
            """{"id": "c0", "context": "It rained.", "choices": ["We stayed in.", "No."], "label": 1}""" + "\n" +
            """{"id": "c1", "context": "It rained.", "choices": ["We stayed in.", "No."], "label": 0}""");
        var tasks = TaskRegistry.Parse("continuation", Path.Combine(dir.Path, "data"));
        var progress = new List<TaskProgress>();

        var results = EvalRunner.Run(new LoglikelihoodScorer(new ConstantModel(), new CharTokenizer()), tasks,
            new EvalRunInfo("tiny", "{}", Seed: 5), new SynchronousProgress<TaskProgress>(progress.Add));

        Assert.Equal(["acc", "acc_norm"], results.Select(r => r.Metric));
        Assert.All(results, r => Assert.Equal(("tiny", "{}", "continuation", 2, 5, KitInfo.Version), (r.Model, r.QuantConfig, r.Task, r.N, r.Seed, r.KitVersion)));
        Assert.All(results, r => Assert.Equal(Provenance.Current, r.Provenance));
        Assert.Equal(0.5, results[0].Value); // the shorter choice wins on acc: right once, wrong once
        Assert.Equal("continuation (stand-in)", progress.Last().Task);
    }
}
