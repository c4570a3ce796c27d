using System.Diagnostics;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// Turns a model, a <see cref="QuantConfig"/> and a <see cref="CalibrationSet"/> into a <see cref="CalibrationResult"/>:
/// checks that every parameter is finite, captures the linear inputs of the full-precision model one block at a time
/// (<see cref="StagedCapture"/>) and runs the config's method (<see cref="CalibrationMethods.For"/>) on each block's
/// groups before the next block is captured (every layer independently, on full-precision inputs; a method that
/// <see cref="ICalibrationMethod.NeedsEveryInputFirst"/> gets every input captured first), then quantizes the token
/// embedding and the attention operands. A group's input is released once the group is calibrated, so a streaming method
/// holds one block's inputs and the residual stream of the calibration tokens at a time. The model itself is left
/// unchanged; apply the result to it (or to a copy) to evaluate.
/// </summary>
public static class Calibrator
{
    /// <summary>Calibrates <paramref name="config"/> on <paramref name="model"/> (see the class summary).</summary>
    /// <exception cref="ArgumentException">The config is inconsistent (the message names the setting).</exception>
    /// <exception cref="InvalidDataException">A parameter or a captured input holds NaN or infinity (the message names it).</exception>
    /// <exception cref="NotSupportedException">The method needs something the model lacks.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> fired.</exception>
    public static CalibrationResult Run(IQuantizableModel model, QuantConfig config, CalibrationSet set,
        IProgress<CalibrationProgress>? progress = null, string? modelSource = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(set);
        config.Validate();
        var method = CalibrationMethods.For(config.Method);
        method.CheckModel(model);
        foreach (var (name, tensor) in model.NamedWeights()) Ranges.RequireFinite(tensor.Data, name);
        var total = Stopwatch.StartNew();
        var identity = ModelIdentity.Of(model, modelSource);

        bool linears = config.Weights is not null || config.Activations is not null;
        var groups = linears ? InputGroup.ForModel(model, config.QuantizeLmHead) : [];
        var attentionPoints = config.AttentionMatMuls is null ? [] : model.AttentionMatMulPoints;
        var context = new CalibrationContext(model, config, groups, progress, cancellation);
        var layers = new List<LayerCalibration>();
        using var capture = groups.Count + attentionPoints.Count > 0 ? new StagedCapture(model, set, groups, attentionPoints, context) : null;
        var captured = new Queue<InputGroup>();
        var clock = new Stopwatch();
        context.Timings["capture"] = 0;
        bool CaptureNextStage()
        {
            clock.Restart();
            var stage = capture?.CaptureNextStage();
            foreach (var group in stage ?? [])
            {
                Ranges.RequireFinite(group.Inputs, $"the input of {group.Name} on the calibration set");
                captured.Enqueue(group);
            }
            context.Timings["capture"] += clock.Elapsed.TotalSeconds;
            return stage is not null;
        }

        if (method.NeedsEveryInputFirst)
            while (CaptureNextStage()) { }
        var layersClock = Stopwatch.StartNew();
        method.Prepare(context);
        layersClock.Stop();
        // Each block's groups are calibrated as soon as they are captured, and their inputs released before the next block runs.
        int index = 0;
        while (captured.Count > 0 || CaptureNextStage())
        {
            layersClock.Start();
            while (captured.TryDequeue(out var group))
            {
                context.Report(CalibrationStage.Layers, group.Name, index, groups.Count);
                var groupClock = Stopwatch.StartNew();
                layers.AddRange(method.CalibrateGroup(context, group));
                context.Timings[CalibrationContext.GroupTiming(group.Name)] = groupClock.Elapsed.TotalSeconds;
                group.Inputs = [];
                index++;
                CollectGroupGarbage();
            }
            layersClock.Stop();
        }
        if (groups.Count > 0) context.Report(CalibrationStage.Layers, "done", groups.Count, groups.Count);
        context.Timings["layers"] = layersClock.Elapsed.TotalSeconds;
        var attentionMax = capture?.AttentionMax() ?? new Dictionary<string, float>();
        foreach (var (point, max) in attentionMax)
            if (!float.IsFinite(max)) throw new InvalidDataException($"calibration: the attention operand {point} holds NaN or infinity on the calibration set.");

        var embeddingClock = Stopwatch.StartNew();
        EmbeddingCalibration? embedding = null;
        if (config.Embedding is { } embeddingSpec)
        {
            var table = model.TokenEmbedding
                ?? throw new NotSupportedException($"embedding: this {model.Architecture} model has no token embedding to quantize; set embedding to null.");
            embedding = method.QuantizeEmbedding(context, table, embeddingSpec);
        }
        context.Timings["embedding"] = embeddingClock.Elapsed.TotalSeconds;

        var attention = attentionPoints.ToDictionary(p => p.Name, p => MinMax.ForAbsMax(config.AttentionMatMuls!, attentionMax[p.Name]));
        context.Timings["total"] = total.Elapsed.TotalSeconds;
        return new CalibrationResult
        {
            Config = config,
            Model = identity,
            CalibrationTokens = set.TokenCount,
            Layers = layers,
            Embedding = embedding,
            AttentionQuantizers = attention,
            Timings = context.Timings,
            Tensors = context.Tensors,
        };
    }

    /// <summary>
    /// A full blocking collection. A group's search leaves hundreds of megabytes of large arrays behind (Grams, quantized
    /// weights, scratch the size of a weight), and the GC budgets its large-object heap by what survives — the model's
    /// weights — so left alone it lets several groups' garbage pile up before collecting (a 1024-hidden layer: peak RSS
    /// 3.5 GB against 2.4 GB collected; benchmarks/README.md). One collection per group or search phase costs
    /// milliseconds against seconds of search.
    /// </summary>
    internal static void CollectGroupGarbage() => GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true);
}
