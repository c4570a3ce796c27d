using LlmFp4.Kit.Training;

namespace LlmFp4.Kit.Tests.Training;

public class TrainingSessionTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "llmfp4-training-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }

    // The quick recipe with a small vocabulary, enough for the synthetic 32-id token streams.
    private static readonly TrainingConfig Config = TrainingConfig.Quick with
    {
        Model = TrainingConfig.Quick.Model with { VocabSize = 64 },
        Steps = 6,
        CheckpointInterval = 2,
        EvalInterval = 3,
    };

    private static TrainingData Data() =>
        new(TinyTraining.PatternTokens(5000, Config.Model.VocabSize, 1), TinyTraining.PatternTokens(1000, Config.Model.VocabSize, 2));

    [Fact]
    public void ResumeContinuesBitIdentically()
    {
        string straight = Path.Combine(_folder, "straight"), split = Path.Combine(_folder, "split");
        var full = TrainingSession.Run(Config, Data(), straight);
        Assert.True(full.Finished);

        // Half the steps, then a resumed run finishes the rest.
        var half = TrainingSession.Run(Config, Data(), split, progress: new StopAfter(3, out var cancel), cancellation: cancel.Token);
        Assert.Equal(3, half.Step);
        Assert.False(half.Finished);
        var rest = TrainingSession.Run(Config, Data(), split, resume: true);
        Assert.True(rest.Finished);

        var a = TrainingCheckpoint.Load(Path.Combine(straight, TrainingSession.CheckpointFile));
        var b = TrainingCheckpoint.Load(Path.Combine(split, TrainingSession.CheckpointFile));
        Assert.Equal(a.Parameters, b.Parameters);
        Assert.Equal(a.FirstMoment, b.FirstMoment);
        Assert.Equal(a.SecondMoment, b.SecondMoment);
        Assert.Equal(a.TokensSeen, b.TokensSeen);
        static string[] Losses(string folder) => File.ReadAllLines(Path.Combine(folder, TrainingSession.LogFile)).Select(l => string.Join(",", l.Split(',')[..5])).ToArray();
        Assert.Equal(Losses(straight), Losses(split));
        Assert.Equal(Config.Steps + 1, Losses(split).Length);
        Assert.True(File.Exists(Path.Combine(split, "model.safetensors")));
    }

    [Fact]
    public void LossFallsOnLearnableData()
    {
        var config = Config with { Steps = 30, WarmupSteps = 3, PeakLearningRate = 1e-2, MinLearningRate = 1e-3, CheckpointInterval = 40, EvalInterval = 0 };
        TrainingSession.Run(config, Data(), _folder);
        var losses = File.ReadAllLines(Path.Combine(_folder, TrainingSession.LogFile)).Skip(1)
            .Select(l => double.Parse(l.Split(',')[2], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.True(losses[^5..].Average() < losses[..5].Average() - 0.5, $"loss went from {losses[0]} to {losses[^1]}");
    }

    [Fact]
    public void ConfigRoundTripsThroughJsonAndRejectsBadSettings()
    {
        var parsed = TrainingConfig.FromJson(TrainingConfig.Default.ToJson());
        Assert.Equal(TrainingConfig.Default.ToJson(), parsed.ToJson());
        var ex = Assert.Throws<InvalidDataException>(() => TrainingConfig.FromJson((TrainingConfig.Quick with { BatchSize = 3 }).ToJson(), "bad.json"));
        Assert.Contains("bad.json", ex.Message);
        Assert.Contains("MicroBatchSize", ex.Message);
    }

    [Fact]
    public void TruncatedCheckpointIsReportedByName()
    {
        TrainingSession.Run(Config with { Steps = 2 }, Data(), _folder);
        string path = Path.Combine(_folder, TrainingSession.CheckpointFile);
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 10)]);
        var ex = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path));
        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public void SamplerIsAFunctionOfSeedStepAndIndex()
    {
        int[] tokens = Enumerable.Range(0, 1000).ToArray();
        var a = new WindowSampler(tokens, 10, 5);
        var b = new WindowSampler(tokens, 10, 5);
        Assert.Equal(a.Start(7, 3), b.Start(7, 3));
        Assert.NotEqual(a.Start(7, 3), a.Start(8, 3));
        Assert.NotEqual(a.Start(7, 3), new WindowSampler(tokens, 10, 6).Start(7, 3));
        var window = new int[20];
        a.Fill(7, 3, window);
        Assert.Equal(a.Start(7, 3), window[0]);
        Assert.Equal(a.Start(7, 4), window[10]);
        Assert.All(Enumerable.Range(0, 500), i => Assert.InRange(a.Start(i, 0), 0, 990));
    }

    /// <summary>Cancels the run once it has reported the given step.</summary>
    private sealed class StopAfter : IProgress<TrainingProgress>
    {
        private readonly int _step;
        private readonly CancellationTokenSource _cancel = new();

        public StopAfter(int step, out CancellationTokenSource cancel)
        {
            _step = step;
            cancel = _cancel;
        }

        public void Report(TrainingProgress value)
        {
            if (value.Step >= _step) _cancel.Cancel();
        }
    }
}
