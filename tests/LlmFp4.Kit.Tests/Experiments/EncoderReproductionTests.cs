using System.Text.Json;
using LlmFp4.Kit.Cli.Commands;
using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Experiments;
using LlmFp4.Kit.Models.Bert;
using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tests.Evaluation;
using LlmFp4.Kit.Tests.Models;

namespace LlmFp4.Kit.Tests.Experiments;

/// <summary>The end-to-end pipeline on a tiny random BERT sentence encoder, scored on a few verse pairs.</summary>
public class EncoderReproductionTests
{
    private static readonly string[] Vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "in", "the", "beginning", "god", "created", "heaven", "and",
        "earth", ".", ",", "##s", "light", "was", "good", "let", "there", "be", "said", "saw", "that", "it", "waters", "day", "night", "called"];

    /// <summary>An encoder folder and a task folder with pairs.jsonl and calibration.txt; returns the pairs path.</summary>
    private static (string Model, string Pairs) TinyEncoderAndTask(TempDirectory dir)
    {
        string folder = Path.Combine(dir.Path, "tiny-bert");
        var config = BertModelTests.Tiny with { VocabSize = Vocab.Length };
        var model = BertModel.CreateRandom(config, seed: 8, std: 0.3f);
        BertCheckpoint.Save(folder, config, model.NamedWeights().ToDictionary(w => w.Name, w => w.Tensor.Data));
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), WordPieceTokenizer.CreateJson(Vocab, lowercase: true, maxLength: 16));
        string[] kjv = ["In the beginning God created the heaven and the earth.", "And God said, Let there be light.", "And God saw the light, that it was good.",
            "And God called the light Day.", "And the night he called Night.", "Let the waters be."];
        string[] web = ["In the beginning, God created the heavens and the earth.", "God said, let there be light.", "God saw the light, and saw that it was good.",
            "God called the light day.", "The night he called night.", "Let there be waters."];
        string pairs = dir.File("task/pairs.jsonl", string.Join("\n", kjv.Select((k, i) => JsonSerializer.Serialize(new { id = $"v{i}", kjv = k, web = web[i] }))));
        dir.File("task/calibration.txt", "God saw the waters.\nthe day and the night.\nlet there be earth.\nGod created light, and it was good.\nthe heavens said.\n");
        return (folder, pairs);
    }

    [Fact]
    public void Encoder_rows_are_scored_on_retrieval_and_fidelity_and_reused()
    {
        using var dir = new TempDirectory();
        var (model, pairs) = TinyEncoderAndTask(dir);
        Assert.True(Reproduction.IsEncoder(model));
        var config = ReproductionConfig.EncoderQuickRun with
        {
            ModelPath = model,
            Rows = [ReproductionConfig.FullPrecision, "minmax-fp:8/8/8", "minmax-int:4/4/4"],
            Tasks = $"{VerseRetrieval.TaskName}:{pairs}",
            Calibration = new CalibrationDataSettings { Samples = 4, SequenceLength = 16 },
            Limit = 5,
            OutputDirectory = Path.Combine(dir.Path, "out"),
            CalibrationDirectory = Path.Combine(dir.Path, "calibration"),
        };

        var result = Reproduction.Run(config);
        Assert.Equal("tiny-bert", result.ModelName);
        double Value(ReproductionRow row, string metric) => row.Results.Single(r => r.Metric == metric).Value;
        Assert.All(result.Rows, r => Assert.Equal(["recall@1", "recall@10", "mrr", "mean_cosine"], r.Results.Select(x => x.Metric)));
        Assert.All(result.Rows.SelectMany(r => r.Results), r => Assert.Equal(r.Task == Fidelity.TaskName ? 10 : 5, r.N));
        Assert.Equal(1.0, Value(result.Rows[0], "mean_cosine"), 12);
        Assert.InRange(Value(result.Rows[1], "mean_cosine"), 0.99, 1.0);
        Assert.True(Value(result.Rows[2], "mean_cosine") < Value(result.Rows[1], "mean_cosine"), "4-bit integers drift further than 8-bit floats");

        var table = ReproductionReport.Table(result);
        Assert.Equal(["recall@10", "MRR", "mean cosine to FP"], table.ExtraColumns.Select(c => c.Header));
        Assert.False(table.ShowAverage);
        var files = ReproductionReport.Write(result, config.OutputDirectory, null, png: false);
        Assert.All(files.Paths, path => Assert.True(File.Exists(path), path));
        Assert.Contains(Path.Combine(config.OutputDirectory, "figures", ReproductionReport.FidelityFigure + ".html"), files.Paths);
        string markdown = File.ReadAllText(Path.Combine(config.OutputDirectory, "results.md"));
        Assert.Contains("| setting | verse-retrieval | recall@10 | MRR | mean cosine to FP |", markdown);
        Assert.Contains("5 KJV → WEB verse pairs", markdown);

        var again = Reproduction.Run(config);
        Assert.All(again.Rows, r => Assert.True(r.Reused));
        Assert.Equal(result.Results, again.Results);
    }

    [Fact]
    public void The_calibration_sentences_come_from_the_task_folder_never_the_pairs()
    {
        using var dir = new TempDirectory();
        var (_, pairs) = TinyEncoderAndTask(dir);
        var texts = VerseRetrieval.CalibrationTexts(pairs);
        Assert.Equal(5, texts.Count);
        var evaluated = VerseRetrieval.Read(pairs).Items.SelectMany(p => new[] { p.Kjv, p.Web }).ToHashSet();
        Assert.DoesNotContain(texts, evaluated.Contains);
        File.Delete(Path.Combine(Path.GetDirectoryName(pairs)!, VerseRetrieval.CalibrationFile));
        var missing = Assert.Throws<FileNotFoundException>(() => VerseRetrieval.CalibrationTexts(pairs));
        Assert.Contains(VerseRetrieval.CalibrationFile, missing.Message);
    }

    [Fact]
    public void Reproduce_on_an_encoder_starts_from_the_encoder_settings()
    {
        using var dir = new TempDirectory();
        var (model, _) = TinyEncoderAndTask(dir);
        var full = ReproduceCommand.Settings(null, quick: false, model, null, false, null, null);
        Assert.Equal(ReproductionConfig.EncoderRows, full.Rows);
        Assert.Equal(VerseRetrieval.TaskName, full.Tasks);
        Assert.Null(full.Limit);
        var quick = ReproduceCommand.Settings(null, quick: true, model, null, false, null, null);
        Assert.True(quick.Quick);
        Assert.Equal(ReproductionConfig.EncoderQuickRun.OutputDirectory, quick.OutputDirectory);
        Assert.Throws<ArgumentException>(() => (full with { Tasks = "continuation" }).EncoderPairsPath());
    }
}
