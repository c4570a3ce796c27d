using System.Text.Json;
using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Experiments;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tests.Calibration;
using LlmFp4.Kit.Tests.Evaluation;
using LlmFp4.Kit.Tests.Tokenizers;

namespace LlmFp4.Kit.Tests.Experiments;

/// <summary>The end-to-end pipeline on a tiny random model with a one-token-per-character tokenizer, and once on the default model.</summary>
public class ReproductionTests
{
    /// <summary>A data folder with training and held-out text and a few stand-in task records.</summary>
    private static string TinyData(TempDirectory dir)
    {
        string Sentence(int i) => $"the lamp {i % 7} burns by the door {i % 5}.";
        dir.File("data/corpus/train.txt", string.Join(" ", Enumerable.Range(0, 200).Select(Sentence)));
        dir.File("data/corpus/test.txt", string.Join(" ", Enumerable.Range(300, 60).Select(Sentence)));
        dir.File("data/tasks/continuation.jsonl", string.Join("\n", Enumerable.Range(0, 6).Select(i => JsonSerializer.Serialize(new
        {
            id = $"c{i}",
            context = Sentence(i),
            choices = new[] { Sentence(i + 1), "a bird sings.", "no one knows.", "it rains." },
            label = 0,
        }))));
        dir.File("data/tasks/lastword.jsonl", string.Join("\n", Enumerable.Range(0, 6).Select(i => JsonSerializer.Serialize(new
        {
            id = $"w{i}",
            context = $"{Sentence(i)} the lamp burns by the",
            target = "door",
        }))));
        return Path.Combine(dir.Path, "data");
    }

    private static LoadedModel TinyModel() => new("tiny",
        LlamaModel.CreateRandom(CalibrationTestData.TinyConfig() with { VocabSize = 130, MaxPositionEmbeddings = 256 }, seed: 4, std: 0.1f),
        new CharTokenizer());

    private static ReproductionConfig TinyConfig(TempDirectory dir, params string[] rows) => new()
    {
        ModelPath = "tiny",
        Rows = rows,
        Calibration = new CalibrationDataSettings { Samples = 4, SequenceLength = 32 },
        Limit = 4,
        PerplexityTokens = 600,
        FidelityTokens = 300,
        DataDirectory = TinyData(dir),
        OutputDirectory = Path.Combine(dir.Path, "out"),
        CalibrationDirectory = Path.Combine(dir.Path, "calibration"),
    };

    private static string[] RowFiles(ReproductionConfig config) =>
        Directory.Exists(Path.Combine(config.OutputDirectory, Reproduction.RowsFolder))
            ? Directory.GetFiles(Path.Combine(config.OutputDirectory, Reproduction.RowsFolder))
            : [];

    [Fact]
    public void Rows_are_calibrated_evaluated_filed_and_reused()
    {
        using var dir = new TempDirectory();
        var config = TinyConfig(dir, ReproductionConfig.FullPrecision, "minmax-int:4/4/4", "fpq:4/4/4");
        var model = TinyModel();

        var first = Reproduction.Run(config, model);
        Assert.Equal(["full precision", "MinMax INT 4/4/4", "FPQ 4/4/4"], first.Rows.Select(r => r.Label));
        Assert.All(first.Rows, r => Assert.False(r.Reused));
        Assert.All(first.Rows, r => Assert.Equal(["continuation", "lastword", "perplexity", "fidelity"], r.Results.Select(x => x.Task).Distinct()));
        Assert.All(first.Rows.SelectMany(r => r.Results).Where(r => r.Task is not ("perplexity" or "fidelity")), r => Assert.Equal(4, r.N));
        Assert.Equal(600, first.Rows[0].Results.First(r => r.Metric == "perplexity" && r.Task == "perplexity").N);
        // Full precision is compared with itself; a 4-bit model is not the same distribution.
        double Fidelity(ReproductionRow row, string metric) => row.Results.Single(r => r.Task == "fidelity" && r.Metric == metric).Value;
        Assert.Equal(300, first.Rows[0].Results.First(r => r.Task == "fidelity").N);
        Assert.Equal(0, Fidelity(first.Rows[0], "kl_divergence"), 12);
        Assert.Equal(1, Fidelity(first.Rows[0], "top1_agreement"));
        Assert.True(Fidelity(first.Rows[2], "kl_divergence") > 1e-6);
        double Perplexity(ReproductionRow row) => row.Results.First(r => r.Task == "perplexity" && r.Metric == "perplexity").Value;
        Assert.NotEqual(Perplexity(first.Rows[0]), Perplexity(first.Rows[2]));
        Assert.Equal($"fpq:4/4/4@{first.Rows[2].Config!.Hash}", first.Rows[2].Results[0].QuantConfig);
        Assert.Equal(config.Calibration, first.Rows[2].Config!.Calibration);
        Assert.Equal(3, RowFiles(config).Length);
        Assert.Equal(2, Directory.GetDirectories(config.CalibrationDirectory).Length);

        var again = Reproduction.Run(config, model);
        Assert.All(again.Rows, r => Assert.True(r.Reused));
        Assert.Equal(first.Results, again.Results);

        // Finished rows gone: the saved calibrations are loaded, not searched again, and give the same numbers.
        Directory.Delete(Path.Combine(config.OutputDirectory, Reproduction.RowsFolder), recursive: true);
        var reloaded = Reproduction.Run(config, model);
        Assert.Equal([false, true, true], reloaded.Rows.Select(r => r.CalibrationReused));
        Assert.Equal(first.Results.Select(r => r.Value), reloaded.Results.Select(r => r.Value));

        var forced = Reproduction.Run(config with { Force = true }, model);
        Assert.All(forced.Rows, r => Assert.False(r.Reused || r.CalibrationReused));
        Assert.Equal(first.Results.Select(r => r.Value), forced.Results.Select(r => r.Value));
    }

    [Fact]
    public void Cancelling_keeps_the_finished_rows_and_writes_nothing_else()
    {
        using var dir = new TempDirectory();
        var config = TinyConfig(dir, ReproductionConfig.FullPrecision, "minmax-fp:4/4/4");
        using var cancellation = new CancellationTokenSource();
        var progress = new SynchronousProgress<ReproductionProgress>(p =>
        {
            if (p.RowIndex == 1 && p.Stage == "evaluate") cancellation.Cancel();
        });

        Assert.ThrowsAny<OperationCanceledException>(() => Reproduction.Run(config, TinyModel(), progress, cancellation.Token));
        var files = RowFiles(config);
        Assert.Single(files);
        Assert.StartsWith("full-precision-", Path.GetFileName(files[0]));
        Assert.Equal(files, Directory.GetFiles(config.OutputDirectory, "*", SearchOption.AllDirectories));

        var resumed = Reproduction.Run(config, TinyModel());
        Assert.Equal([true, false], resumed.Rows.Select(r => r.Reused));
    }

    [Fact]
    public void The_report_holds_the_table_the_files_and_the_figures()
    {
        using var dir = new TempDirectory();
        var config = TinyConfig(dir, ReproductionConfig.FullPrecision, "minmax-fp:8/8/8");
        var result = Reproduction.Run(config, TinyModel());

        var table = ReproductionReport.Table(result);
        Assert.Equal(["continuation", "lastword"], table.Tasks);
        Assert.Equal(["perplexity", "KL to FP", "top-1 agreement"], table.ExtraColumns.Select(c => c.Header));
        Assert.Equal(["full precision", "MinMax FP 8/8/8"], table.Rows.Select(r => r.Setting));
        Assert.All(table.Rows, r => Assert.All(r.Extra, cell => Assert.NotNull(cell)));

        var files = ReproductionReport.Write(result, config.OutputDirectory, Path.Combine(dir.Path, "figures"), png: false);
        foreach (string name in new[] { "results.jsonl", "results.csv", "results.md", "figures/reproduce-average-accuracy.html", "figures/reproduce-perplexity.html" })
            Assert.Contains(Path.Combine(config.OutputDirectory, name), files.Paths);
        Assert.All(files.Paths, path => Assert.True(File.Exists(path), path));
        Assert.True(File.Exists(Path.Combine(dir.Path, "figures", "reproduce-perplexity.html")), "without PNG the repository copy falls back to HTML");
        Assert.Equal(result.Results, EvalResultFiles.ReadJsonLines(Path.Combine(config.OutputDirectory, "results.jsonl")));
        string markdown = File.ReadAllText(Path.Combine(config.OutputDirectory, "results.md"));
        Assert.Contains("| MinMax FP 8/8/8 |", markdown);
        Assert.Contains("4 × 32 tokens", markdown);
    }

    [Fact]
    public void Configs_round_trip_and_name_a_bad_row()
    {
        foreach (var config in new[] { ReproductionConfig.FullRun, ReproductionConfig.QuickRun })
        {
            config.Validate();
            var back = ReproductionConfig.FromJson(config.ToJson());
            Assert.Equal(config.Rows, back.Rows);
            Assert.Equal(config with { Rows = back.Rows }, back);
        }
        Assert.Equal(14, ReproductionConfig.FullRun.Rows.Count);
        Assert.All(ReproductionConfig.PaperRows.Skip(1), row => Assert.NotNull(ReproductionConfig.FullRun.QuantConfigFor(row)));

        var unknown = Assert.Throws<ArgumentException>(() => (ReproductionConfig.FullRun with { Rows = ["fpq:4/4/4", "fqp:4/4/4"] }).Validate());
        Assert.Contains("fqp:4/4/4", unknown.Message);
        Assert.Throws<ArgumentException>(() => (ReproductionConfig.FullRun with { Rows = ["fpq:4/4/4", "FPQ:4/4/4"] }).Validate());
        var broken = Assert.Throws<InvalidDataException>(() => ReproductionConfig.FromJson("""{"rows": ["fpq:4/4/4"], "limt": 3}""", "my.json"));
        Assert.StartsWith("my.json:", broken.Message);
    }

    [Fact]
    public void Perplexity_can_score_the_first_tokens_only()
    {
        var model = new BigramModel(130, 16);
        string text = "abcdefghijklmnopqrstuvwxyz";
        var whole = PerplexityEvaluator.Evaluate(model, new CharTokenizer(), text);
        var first = PerplexityEvaluator.Evaluate(model, new CharTokenizer(), text, new PerplexityOptions(MaxTokens: 10));
        Assert.Equal((26L, 26L), (whole.TokenCount, whole.ByteCount!.Value));
        Assert.Equal((10L, 10L), (first.TokenCount, first.ByteCount!.Value));
        var prefix = PerplexityEvaluator.Evaluate(model, new CharTokenizer(), text[..10]);
        Assert.Equal(prefix.Perplexity, first.Perplexity);
    }

    /// <summary>
    /// The real pipeline on the default model, as `reproduce --quick` runs it, on two rows (full precision and MinMax FP
    /// W4A4; the searches run in the tiny-model tests) and a few examples so the test stays fast.
    /// </summary>
    [Fact]
    public void Quick_settings_run_on_the_default_model()
    {
        using var dir = new TempDirectory();
        var config = ReproductionConfig.QuickRun with
        {
            ModelPath = RepositoryFiles.Path("data/models/pdllama-7m"),
            DataDirectory = RepositoryFiles.Path("data"),
            Rows = [ReproductionConfig.FullPrecision, "minmax-fp:4/4/4"],
            Limit = 6,
            PerplexityTokens = 1024,
            OutputDirectory = Path.Combine(dir.Path, "out"),
            CalibrationDirectory = Path.Combine(dir.Path, "calibration"),
        };
        var result = Reproduction.Run(config);

        Assert.Equal("pdllama-7m", result.ModelName);
        var table = ReproductionReport.Table(result);
        Assert.All(table.Rows, r => Assert.InRange(r.Average!.Value, 0, 1));
        double fullPrecision = table.Rows[0].Extra[0]!.Value.Value, minMax = table.Rows[1].Extra[0]!.Value.Value;
        Assert.InRange(fullPrecision, 2, 4096);
        Assert.NotEqual(fullPrecision, minMax);
    }
}
