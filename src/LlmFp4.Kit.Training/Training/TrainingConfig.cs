using System.Text.Json;
using System.Text.Json.Serialization;
using LlmFp4.Kit.Models;

namespace LlmFp4.Kit.Training;

/// <summary>
/// Everything that decides a training run: model shape, data, optimizer, schedule, seed and where files go.
/// Two runs with equal configs produce the same weights bit for bit (on the same GEMM backend).
/// </summary>
public sealed record TrainingConfig
{
    /// <summary>Shape of the model to train (written as the checkpoint's <c>config.json</c>).</summary>
    public required LlamaConfig Model { get; init; }

    /// <summary>Tokens per training sequence (each window holds one more token for the shifted targets).</summary>
    public int SequenceLength { get; init; } = 512;

    /// <summary>Sequences per optimizer step.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Sequences per forward/backward pass; gradients accumulate over BatchSize / MicroBatchSize passes.</summary>
    public int MicroBatchSize { get; init; } = 4;

    public int Steps { get; init; } = 1600;
    public double PeakLearningRate { get; init; } = 2e-3;
    public double MinLearningRate { get; init; } = 2e-4;
    public int WarmupSteps { get; init; } = 32;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.95;
    public double Epsilon { get; init; } = 1e-8;

    /// <summary>Decoupled (AdamW) weight decay, applied to matrices only, never to norm weights.</summary>
    public double WeightDecay { get; init; } = 0.1;

    /// <summary>Largest global L2 norm of the gradient; larger gradients are scaled down to it. 0 disables clipping.</summary>
    public double GradientClip { get; init; } = 1.0;

    /// <summary>Standard deviation of the normal initialisation of every matrix (norm weights start at 1).</summary>
    public double InitStd { get; init; } = 0.02;

    public int Seed { get; init; } = 1234;

    /// <summary>Write a resumable checkpoint every this many steps (and at the end).</summary>
    public int CheckpointInterval { get; init; } = 50;

    /// <summary>Measure validation loss every this many steps (and at the end). 0 disables it.</summary>
    public int EvalInterval { get; init; } = 100;

    /// <summary>Validation windows (of SequenceLength + 1 tokens, non-overlapping, from the start of the split).</summary>
    public int EvalSequences { get; init; } = 32;

    public string TrainText { get; init; } = "data/corpus/train.txt";
    public string ValidationText { get; init; } = "data/corpus/validation.txt";

    /// <summary>Held-out split for the model card's test perplexity (never used while training).</summary>
    public string TestText { get; init; } = "data/corpus/test.txt";
    public string Tokenizer { get; init; } = "data/tokenizer/tokenizer.json";

    /// <summary>Folder for tokenized-split caches (ignored by git).</summary>
    public string CacheDirectory { get; init; } = ".work/tokens";

    /// <summary>The recipe of the kit's default model (data/models/pdllama-7m).</summary>
    public static TrainingConfig Default => new()
    {
        Model = new LlamaConfig
        {
            VocabSize = 4096,
            HiddenSize = 256,
            IntermediateSize = 768,
            NumHiddenLayers = 6,
            NumAttentionHeads = 8,
            NumKeyValueHeads = 8,
            MaxPositionEmbeddings = 512,
            RmsNormEps = 1e-5,
            RopeTheta = 10000,
        },
    };

    /// <summary>A tiny model and a few steps on the same data: finishes in seconds (tests, smoke runs).</summary>
    public static TrainingConfig Quick => Default with
    {
        Model = Default.Model with
        {
            HiddenSize = 32,
            IntermediateSize = 64,
            NumHiddenLayers = 2,
            NumAttentionHeads = 4,
            NumKeyValueHeads = 2,
            MaxPositionEmbeddings = 64,
        },
        SequenceLength = 32,
        BatchSize = 4,
        MicroBatchSize = 2,
        Steps = 8,
        WarmupSteps = 2,
        CheckpointInterval = 4,
        EvalInterval = 4,
        EvalSequences = 4,
    };

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting that cannot work.</summary>
    public void Validate()
    {
        Model.Validate();
        static void Positive(double value, string name)
        {
            if (!(value > 0)) throw new ArgumentException($"training config: {name} must be positive, got {value}.");
        }
        Positive(SequenceLength, nameof(SequenceLength));
        Positive(BatchSize, nameof(BatchSize));
        Positive(MicroBatchSize, nameof(MicroBatchSize));
        Positive(Steps, nameof(Steps));
        Positive(PeakLearningRate, nameof(PeakLearningRate));
        Positive(CheckpointInterval, nameof(CheckpointInterval));
        Positive(Epsilon, nameof(Epsilon));
        if (BatchSize % MicroBatchSize != 0)
            throw new ArgumentException($"training config: BatchSize {BatchSize} is not a multiple of MicroBatchSize {MicroBatchSize}.");
        if (SequenceLength > Model.MaxPositionEmbeddings)
            throw new ArgumentException($"training config: SequenceLength {SequenceLength} exceeds max_position_embeddings {Model.MaxPositionEmbeddings}.");
        if (MinLearningRate < 0 || MinLearningRate > PeakLearningRate)
            throw new ArgumentException($"training config: MinLearningRate {MinLearningRate} must lie in [0, PeakLearningRate {PeakLearningRate}].");
        if (WarmupSteps < 0 || WarmupSteps > Steps)
            throw new ArgumentException($"training config: WarmupSteps {WarmupSteps} must lie in [0, Steps {Steps}].");
        if (Beta1 is < 0 or >= 1 || Beta2 is < 0 or >= 1)
            throw new ArgumentException($"training config: Beta1 {Beta1} and Beta2 {Beta2} must lie in [0, 1).");
        if (WeightDecay < 0 || GradientClip < 0 || EvalInterval < 0 || EvalSequences < 0 || InitStd < 0)
            throw new ArgumentException("training config: WeightDecay, GradientClip, EvalInterval, EvalSequences and InitStd must not be negative.");
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Parses a config written by <see cref="ToJson"/>; <paramref name="source"/> names the file in errors.</summary>
    public static TrainingConfig FromJson(string json, string source = "training config")
    {
        TrainingConfig? config;
        try { config = JsonSerializer.Deserialize<TrainingConfig>(json, JsonOptions); }
        catch (JsonException ex) { throw new InvalidDataException($"{source}: not a valid training config ({ex.Message})", ex); }
        if (config is null) throw new InvalidDataException($"{source}: empty training config.");
        try { config.Validate(); }
        catch (ArgumentException ex) { throw new InvalidDataException($"{source}: {ex.Message}", ex); }
        return config;
    }
}
