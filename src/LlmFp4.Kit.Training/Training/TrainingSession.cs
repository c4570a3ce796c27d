using System.Diagnostics;
using LlmFp4.Kit.Models.Loading;

namespace LlmFp4.Kit.Training;

/// <summary>One report per optimizer step.</summary>
public sealed record TrainingProgress(int Step, int Steps, long TokensSeen, double Loss, double LearningRate, double GradientNorm,
    double TokensPerSecond, TimeSpan Elapsed, TimeSpan Remaining, double? ValidationLoss);

/// <summary>How a run ended.</summary>
public sealed record TrainingResult(int Step, int Steps, long TokensSeen, double ElapsedSeconds, double LastLoss, double? LastValidationLoss)
{
    public bool Finished => Step == Steps;
}

/// <summary>
/// The training loop: AdamW on the mean next-token cross-entropy of random windows, warm-up + cosine schedule,
/// global-norm clipping, periodic validation and atomic checkpoints. Files in the output folder:
/// <c>training_config.json</c>, <c>checkpoint.bin</c> (<see cref="TrainingCheckpoint"/>), <c>training_log.csv</c>
/// (one row per step) and, once the last step is done, the model in Hugging Face layout (<c>config.json</c>,
/// <c>model.safetensors</c>).
/// </summary>
public static class TrainingSession
{
    public const string CheckpointFile = "checkpoint.bin";
    public const string LogFile = "training_log.csv";
    public const string ConfigFile = "training_config.json";

    /// <summary>
    /// Trains from scratch, or with <paramref name="resume"/> continues from <c>checkpoint.bin</c> in
    /// <paramref name="outputDirectory"/> (bit-identical to an uninterrupted run). Stops early, after checkpointing,
    /// once <paramref name="maxTime"/> has passed or <paramref name="cancellation"/> fires.
    /// </summary>
    public static TrainingResult Run(TrainingConfig config, TrainingData data, string outputDirectory, bool resume = false,
        TimeSpan? maxTime = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        config.Validate();
        Directory.CreateDirectory(outputDirectory);
        string checkpointPath = Path.Combine(outputDirectory, CheckpointFile), logPath = Path.Combine(outputDirectory, LogFile);
        int window = config.SequenceLength + 1;
        var sampler = new WindowSampler(data.Train, window, config.Seed);
        int[] validation = ValidationWindows(config, data.Validation);

        var trainer = new LlamaTrainer(config.Model, config.SequenceLength, config.MicroBatchSize);
        var m = new float[trainer.Parameters.Count];
        var v = new float[trainer.Parameters.Count];
        int step = 0;
        long tokensSeen = 0;
        double elapsedBefore = 0;
        var logRows = new List<TrainingLogRow>();
        if (resume)
        {
            var checkpoint = TrainingCheckpoint.Load(checkpointPath);
            if (checkpoint.Config.ToJson() != config.ToJson())
                throw new ArgumentException($"{checkpointPath}: was written with a different training config; resume with the same config ({ConfigFile}).");
            checkpoint.Parameters.CopyTo(trainer.Parameters.Values, 0);
            checkpoint.FirstMoment.CopyTo(m, 0);
            checkpoint.SecondMoment.CopyTo(v, 0);
            step = checkpoint.Step;
            tokensSeen = checkpoint.TokensSeen;
            elapsedBefore = checkpoint.ElapsedSeconds;
            logRows = File.Exists(logPath) ? TrainingLog.Read(logPath).Where(row => row.Step <= step).ToList() : [];
        }
        else
        {
            trainer.Parameters.InitializeRandom(config.Seed, config.InitStd);
        }
        File.WriteAllText(Path.Combine(outputDirectory, ConfigFile), config.ToJson());

        var clock = Stopwatch.StartNew();
        int startStep = step;
        double lastLoss = double.NaN;
        double? lastValidation = null;
        var batch = new int[config.MicroBatchSize * window];
        long tokensPerStep = (long)config.BatchSize * config.SequenceLength;
        float gradientScale = 1f / tokensPerStep;

        void Checkpoint() => new TrainingCheckpoint(config, step, elapsedBefore + clock.Elapsed.TotalSeconds, tokensSeen,
            trainer.Parameters.Values, m, v).Save(checkpointPath);

        while (step < config.Steps)
        {
            if (cancellation.IsCancellationRequested || (maxTime is { } limit && clock.Elapsed >= limit)) break;
            int update = step + 1;
            trainer.ZeroGradients();
            double lossSum = 0;
            for (int micro = 0; micro < config.BatchSize / config.MicroBatchSize; micro++)
            {
                sampler.Fill(update, micro * config.MicroBatchSize, batch);
                lossSum += trainer.Run(batch, gradientScale);
            }
            double loss = lossSum / tokensPerStep;
            if (!double.IsFinite(loss))
                throw new InvalidOperationException($"training diverged at step {update}: loss is {loss}. The last checkpoint is step {step}; lower PeakLearningRate.");
            double norm = GradientClipping.ClipByGlobalNorm(trainer.Gradients.Values, config.GradientClip);
            double learningRate = LearningRateSchedule.At(update, config);
            var constants = AdamW.StepConstants.For(update, learningRate, config.Beta1, config.Beta2, config.Epsilon, config.WeightDecay);
            foreach (var slice in trainer.Parameters.Slices)
            {
                var range = new Range(slice.Offset, slice.Offset + slice.Length);
                AdamW.Step(trainer.Parameters.Values.AsSpan(range), trainer.Gradients.Values.AsSpan(range), m.AsSpan(range), v.AsSpan(range),
                    slice.Decays ? constants : constants.WithoutDecay);
            }
            step = update;
            tokensSeen += tokensPerStep;
            lastLoss = loss;

            double? validationLoss = null;
            if (config.EvalInterval > 0 && validation.Length > 0 && (step % config.EvalInterval == 0 || step == config.Steps))
                lastValidation = validationLoss = Evaluate(trainer, validation, window);

            double elapsed = elapsedBefore + clock.Elapsed.TotalSeconds;
            logRows.Add(new TrainingLogRow(step, tokensSeen, loss, learningRate, norm, elapsed, validationLoss));
            if (step % config.CheckpointInterval == 0 || step == config.Steps)
            {
                Checkpoint();
                TrainingLog.Write(logPath, logRows);
            }
            double tokensPerSecond = (step - startStep) * tokensPerStep / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
            progress?.Report(new TrainingProgress(step, config.Steps, tokensSeen, loss, learningRate, norm, tokensPerSecond,
                TimeSpan.FromSeconds(elapsed), TimeSpan.FromSeconds((config.Steps - step) * tokensPerStep / tokensPerSecond), validationLoss));
        }
        if (step % config.CheckpointInterval != 0 && step != config.Steps && step > startStep)
            Checkpoint();
        TrainingLog.Write(logPath, logRows);
        if (step == config.Steps)
            HfCheckpointWriter.Save(outputDirectory, config.Model, trainer.Parameters.ToDictionary());
        return new TrainingResult(step, config.Steps, tokensSeen, elapsedBefore + clock.Elapsed.TotalSeconds, lastLoss, lastValidation);
    }

    /// <summary>
    /// The first <see cref="TrainingConfig.EvalSequences"/> non-overlapping windows of the validation split, rounded down
    /// to whole micro-batches (empty when the split cannot fill one).
    /// </summary>
    private static int[] ValidationWindows(TrainingConfig config, int[] tokens)
    {
        int window = config.SequenceLength + 1;
        int sequences = Math.Min(config.EvalSequences, tokens.Length / window) / config.MicroBatchSize * config.MicroBatchSize;
        return tokens.AsSpan(0, sequences * window).ToArray();
    }

    /// <summary>Mean token loss of <paramref name="windows"/> (whole micro-batches), forward only.</summary>
    public static double Evaluate(LlamaTrainer trainer, ReadOnlySpan<int> windows, int window)
    {
        int batchTokens = trainer.MicroBatchSize * window;
        double sum = 0;
        for (int start = 0; start < windows.Length; start += batchTokens)
            sum += trainer.Run(windows.Slice(start, batchTokens), 0);
        return sum / (windows.Length / window * (long)(window - 1));
    }
}
