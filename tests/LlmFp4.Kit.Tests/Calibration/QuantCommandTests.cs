using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Cli.Commands;
using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tests.Evaluation;

namespace LlmFp4.Kit.Tests.Calibration;

/// <summary>Runs the eval and calibrate verbs, which draw on AnsiConsole (hence the process-wide state collection).</summary>
[Collection(ProcessWideStateCollection.Name)]
public class QuantCommandTests
{
    private static LlamaModel CharModel() => LlamaModel.CreateRandom(CalibrationTestData.TinyConfig() with { VocabSize = 130 }, seed: 2, std: 0.1f);

    [Fact]
    public void Eval_applies_a_saved_calibration_result()
    {
        using var dir = new TempDirectory();
        string data = Path.Combine(dir.Path, "data");
        dir.File("data/corpus/test.txt", string.Join(" ", Enumerable.Range(0, 40).Select(i => $"line {i} of the held-out text.")));
        var model = CharModel();
        var set = CalibrationSet.Sample(new CharTokenizer().Encode(string.Join(" ", Enumerable.Range(0, 60).Select(i => $"calibration sentence {i}."))),
            new CalibrationDataSettings { Samples = 4, SequenceLength = 32 });
        var config = QuantPresets.Get("fpq:4/4/4").WithSearch(new SearchSettings { Steps = 4, Rounds = 1 });
        string resultDirectory = Path.Combine(dir.Path, "quant");
        Calibrator.Run(model, config, set).Save(resultDirectory);

        string fullPrecision = Path.Combine(dir.Path, "fp.jsonl"), quantized = Path.Combine(dir.Path, "q.jsonl");
        Assert.Equal(0, EvalCommand.Create(_ => new EvalModel("tiny", CharModel(), new CharTokenizer()))
            .Parse(["--model", "tiny", "--tasks", "perplexity", "--data-dir", data, "--out", fullPrecision]).Invoke());
        Assert.Equal(0, EvalCommand.Create(_ => new EvalModel("tiny", CharModel(), new CharTokenizer()))
            .Parse(["--model", "tiny", "--tasks", "perplexity", "--data-dir", data, "--quant", resultDirectory, "--out", quantized]).Invoke());

        var before = EvalResultFiles.ReadJsonLines(fullPrecision).First(r => r.Metric == "perplexity");
        var after = EvalResultFiles.ReadJsonLines(quantized).First(r => r.Metric == "perplexity");
        Assert.Equal($"fpq:4/4/4@{config.Hash}", after.QuantConfig);
        Assert.NotEqual(before.Value, after.Value);
        // With --quant the quantized model is also compared with its unquantized twin on the held-out text.
        Assert.DoesNotContain(EvalResultFiles.ReadJsonLines(fullPrecision), r => r.Task == Fidelity.TaskName);
        var fidelity = EvalResultFiles.ReadJsonLines(quantized).Where(r => r.Task == Fidelity.TaskName).ToDictionary(r => r.Metric);
        Assert.True(fidelity["kl_divergence"].Value > 0);
        Assert.InRange(fidelity["top1_agreement"].Value, 0, 1);
        Assert.Equal(new CharTokenizer().Encode(File.ReadAllText(Path.Combine(data, "corpus", "test.txt")), addSpecialTokens: false).Length, fidelity["kl_divergence"].N);

        string off = Path.Combine(dir.Path, "off.jsonl");
        Assert.Equal(0, EvalCommand.Create(_ => new EvalModel("tiny", CharModel(), new CharTokenizer()))
            .Parse(["--model", "tiny", "--tasks", "perplexity", "--data-dir", data, "--quant", resultDirectory, "--fidelity-tokens", "0", "--out", off]).Invoke());
        Assert.DoesNotContain(EvalResultFiles.ReadJsonLines(off), r => r.Task == Fidelity.TaskName);
    }

    [Fact]
    public void Calibration_settings_from_the_command_line_change_the_hash()
    {
        var config = QuantPresets.Get("fpq:4/4/4");
        var changed = CalibrateCommand.WithCalibration(config, 8, 128, null);
        Assert.Equal((8, 128, 0), (changed.Calibration.Samples, changed.Calibration.SequenceLength, changed.Calibration.Seed));
        Assert.NotEqual(config.Hash, changed.Hash);
        Assert.Equal(config.Hash, CalibrateCommand.WithCalibration(config, null, null, null).Hash);
        Assert.Throws<ArgumentException>(() => CalibrateCommand.WithCalibration(config, 0, null, null));
    }
}
