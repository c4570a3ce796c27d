using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Calibration;

/// <summary>The stages a calibration reports progress in.</summary>
public enum CalibrationStage
{
    /// <summary>The full-precision forward passes over the calibration windows.</summary>
    Capture,

    /// <summary>The layer loop: one step per input group.</summary>
    Layers,

    /// <summary>Inside a group: the candidates of a search phase, or the layers a method rounds one after another.</summary>
    Search,
}

/// <summary>Progress of a calibration: a stage, the item being worked on, and how far along the stage is.</summary>
public readonly record struct CalibrationProgress(CalibrationStage Stage, string Item, int Done, int Total);

/// <summary>
/// Runs the full-precision model over a calibration set and keeps what the calibrators need: each input group's
/// input (through the model's <see cref="ILinearObserver"/>), and max|x| of every enabled attention-matmul operand.
/// </summary>
public static class ActivationCapture
{
    /// <summary>Tokens per forward pass (whole windows); bounds the model's activation buffers.</summary>
    private const int BatchTokens = 4096;

    /// <summary>
    /// Fills <see cref="InputGroup.Inputs"/> of every group and returns max|x| per attention-matmul point named in
    /// <paramref name="attentionPoints"/> (pass none to skip them). The model's observer and those points' quantizers are
    /// restored afterwards; the model must not be quantized yet.
    /// </summary>
    public static IReadOnlyDictionary<string, float> Run(IQuantizableModel model, CalibrationSet set, IReadOnlyList<InputGroup> groups,
        IReadOnlyList<QuantizationPoint>? attentionPoints = null, IProgress<CalibrationProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(set);
        int tokens = set.TokenCount;
        foreach (var group in groups)
        {
            group.Inputs = new float[checked(tokens * group.Features)];
            group.Tokens = tokens;
        }
        var observer = new GroupObserver(groups);
        var recorders = (attentionPoints ?? []).Select(p => (Point: p, Previous: p.Quantizer, Recorder: new AbsMaxRecorder())).ToList();
        var previousObserver = model.Observer;
        model.Observer = observer;
        foreach (var (point, _, recorder) in recorders) point.Quantizer = recorder;
        try
        {
            int next = 0;
            while (next < set.Windows.Count)
            {
                var batch = new List<int[]>();
                int batchTokens = 0;
                while (next < set.Windows.Count && (batch.Count == 0 || batchTokens + set.Windows[next].Length <= BatchTokens))
                {
                    batch.Add(set.Windows[next]);
                    batchTokens += set.Windows[next++].Length;
                }
                model.RunForCapture(batch);
                observer.Advance(batchTokens);
                progress?.Report(new(CalibrationStage.Capture, "calibration forward", next, set.Windows.Count));
            }
        }
        finally
        {
            model.Observer = previousObserver;
            foreach (var (point, previous, _) in recorders) point.Quantizer = previous;
        }
        return recorders.ToDictionary(r => r.Point.Name, r => r.Recorder.Max);
    }

    private sealed class GroupObserver(IReadOnlyList<InputGroup> groups) : ILinearObserver
    {
        private readonly Dictionary<LinearLayer, InputGroup> _firstLayer = groups.ToDictionary(g => g.Layers[0]);
        private int _row;

        public void Observe(LinearLayer layer, ReadOnlySpan<float> input, ReadOnlySpan<float> output, int rows)
        {
            if (!_firstLayer.TryGetValue(layer, out var group)) return;
            input[..(rows * group.Features)].CopyTo(group.Inputs.AsSpan(_row * group.Features));
        }

        public void Advance(int rows) => _row += rows;
    }

    /// <summary>Leaves values unchanged and remembers the largest magnitude seen (thread-safe: probs are quantized from parallel heads).</summary>
    private sealed class AbsMaxRecorder : ITensorQuantizer
    {
        private readonly Lock _lock = new();
        public float Max { get; private set; }

        public void Apply(Span<float> values, int rows, int cols)
        {
            float max = values.IsEmpty ? 0 : System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(values);
            lock (_lock) Max = MathF.Max(Max, MathF.Abs(max));
        }
    }
}
