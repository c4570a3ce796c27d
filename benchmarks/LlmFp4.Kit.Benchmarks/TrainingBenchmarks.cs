using BenchmarkDotNet.Attributes;
using LlmFp4.Kit.Training;

namespace LlmFp4.Kit.Benchmarks;

/// <summary>
/// One forward + backward pass of the default model's recipe (a micro-batch of 4 × 512 tokens; an optimizer step
/// is 4 of these plus AdamW) and the AdamW update of all 7.2 M parameters, on buffers allocated once.
/// Tokens per second of training ≈ 2048 / (ForwardBackward time). Set OPENBLAS_NUM_THREADS=1 and
/// OPENBLAS_CORETYPE to the CPU's family to measure the configuration the default model was trained with.
/// </summary>
[SimpleJob(warmupCount: 2, iterationCount: 6)]
public class TrainingBenchmarks
{
    private LlamaTrainer _trainer = null!;
    private int[] _windows = [];
    private float[] _m = [], _v = [];

    [GlobalSetup]
    public void Setup()
    {
        var config = TrainingConfig.Default;
        _trainer = new LlamaTrainer(config.Model, config.SequenceLength, config.MicroBatchSize);
        _trainer.Parameters.InitializeRandom(config.Seed, config.InitStd);
        var random = new Random(1);
        _windows = Enumerable.Range(0, config.MicroBatchSize * (config.SequenceLength + 1)).Select(_ => random.Next(config.Model.VocabSize)).ToArray();
        _m = new float[_trainer.Parameters.Count];
        _v = new float[_trainer.Parameters.Count];
        _trainer.Run(_windows, 1f / 2048);
    }

    [Benchmark]
    public double ForwardBackward() => _trainer.Run(_windows, 1f / 2048);

    [Benchmark]
    public void AdamWStep() =>
        AdamW.Step(_trainer.Parameters.Values, _trainer.Gradients.Values, _m, _v, AdamW.StepConstants.For(10, 1e-3, 0.9, 0.95, 1e-8, 0.1));
}
