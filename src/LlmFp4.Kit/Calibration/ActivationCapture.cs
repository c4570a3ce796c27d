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
    /// Fills <see cref="InputGroup.Inputs"/> of every group at once and returns max|x| per attention-matmul point named in
    /// <paramref name="attentionPoints"/> (pass none to skip them). The model's observer and those points' quantizers are
    /// restored afterwards; the model must not be quantized yet. <see cref="StagedCapture"/> holds one block's inputs at a time instead.
    /// </summary>
    public static IReadOnlyDictionary<string, float> Run(IQuantizableModel model, CalibrationSet set, IReadOnlyList<InputGroup> groups,
        IReadOnlyList<QuantizationPoint>? attentionPoints = null, IProgress<CalibrationProgress>? progress = null)
    {
        using var capture = new StagedCapture(model, set, groups, attentionPoints, progress);
        while (capture.CaptureNextStage() is not null) { }
        return capture.AttentionMax();
    }

    /// <summary>The calibration windows in order, in batches of whole windows of up to <see cref="BatchTokens"/> tokens (a longer window alone).</summary>
    internal static IReadOnlyList<IReadOnlyList<int[]>> Batches(CalibrationSet set)
    {
        var batches = new List<IReadOnlyList<int[]>>();
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
            batches.Add(batch);
        }
        return batches;
    }
}

/// <summary>
/// The capture run one stage of the model at a time (<see cref="IQuantizableModel.StartStagedForward"/>): each call of
/// <see cref="CaptureNextStage"/> runs the next block over every calibration window (in the batches of
/// <see cref="ActivationCapture"/>) and fills the inputs of the groups read in that block only, so a caller that
/// releases them before the next call holds one block's inputs (and the residual stream of every token) at a time. The
/// captured values are those of a whole forward pass. An input array the caller released (by emptying the group's
/// <see cref="InputGroup.Inputs"/>) is reused for a group of the same size in the next stage, so a block-by-block
/// calibration allocates each block's inputs once rather than leaving every block's to the garbage collector. Stages
/// after the last one any group or attention point needs are not run. Dispose to restore the model's observer and the
/// points' quantizers.
/// </summary>
public sealed class StagedCapture : IDisposable
{
    private readonly IQuantizableModel _model;
    private readonly StagedForward _forward;
    private readonly ILinearObserver? _previousObserver;
    private readonly GroupObserver _observer = new();
    private readonly List<(QuantizationPoint Point, ITensorQuantizer? Previous, AbsMaxRecorder Recorder)> _recorders;
    private readonly List<InputGroup>[] _groupsByStage;
    private readonly int _stagesNeeded;
    private readonly int _tokens;
    private readonly IProgress<CalibrationProgress>? _progress;
    private readonly List<(InputGroup Group, float[] Inputs)> _handedOut = [];

    /// <summary>
    /// Starts the staged forward over <paramref name="set"/> (the embeddings are computed here) and records max|x| at
    /// <paramref name="attentionPoints"/> while their blocks run. No group's input is allocated yet.
    /// </summary>
    /// <exception cref="ArgumentException">A window the model cannot run, or a group or point that no stage of the model runs.</exception>
    public StagedCapture(IQuantizableModel model, CalibrationSet set, IReadOnlyList<InputGroup> groups,
        IReadOnlyList<QuantizationPoint>? attentionPoints = null, IProgress<CalibrationProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(set);
        ArgumentNullException.ThrowIfNull(groups);
        _model = model;
        _tokens = set.TokenCount;
        _progress = progress;
        _forward = model.StartStagedForward(ActivationCapture.Batches(set));
        var stages = _forward.Stages;
        int StageOf(Func<ForwardStage, bool> runs, string what)
        {
            for (int s = 0; s < stages.Count; s++)
                if (runs(stages[s])) return s;
            throw new ArgumentException($"capture: {what} is not run by any stage of this {model.Architecture} model.");
        }
        _groupsByStage = [.. stages.Select(_ => new List<InputGroup>())];
        int last = -1;
        foreach (var group in groups)
        {
            int stage = StageOf(s => s.Linears.Contains(group.Layers[0]), $"{group.Layers[0].Name} (input of {group.Name})");
            _groupsByStage[stage].Add(group);
            last = Math.Max(last, stage);
        }
        _recorders = [.. (attentionPoints ?? []).Select(p => (p, p.Quantizer, new AbsMaxRecorder()))];
        foreach (var (point, _, _) in _recorders)
            last = Math.Max(last, StageOf(s => s.AttentionMatMulPoints.Contains(point), $"the attention point {point.Name}"));
        _stagesNeeded = last + 1;

        _previousObserver = model.Observer;
        model.Observer = _observer;
        foreach (var (point, _, recorder) in _recorders) point.Quantizer = recorder;
    }

    /// <summary>
    /// Runs the next stage over every window, filling <see cref="InputGroup.Inputs"/> ([tokens × features], a released
    /// array of that size or a new one) of the groups whose layers it runs, and returns those groups in execution order (possibly none); null
    /// once every stage that anything needs has run. Reports <see cref="CalibrationStage.Capture"/> progress per stage.
    /// </summary>
    public IReadOnlyList<InputGroup>? CaptureNextStage()
    {
        int stage = _forward.Next;
        if (stage >= _stagesNeeded) return null;
        var groups = _groupsByStage[stage];
        var released = _handedOut.Where(h => !ReferenceEquals(h.Group.Inputs, h.Inputs)).ToList();
        _handedOut.RemoveAll(h => !ReferenceEquals(h.Group.Inputs, h.Inputs));
        foreach (var group in groups)
        {
            int length = checked(_tokens * group.Features);
            int reuse = released.FindIndex(r => r.Inputs.Length == length);
            group.Inputs = reuse < 0 ? new float[length] : released[reuse].Inputs;
            if (reuse >= 0) released.RemoveAt(reuse);
            group.Tokens = _tokens;
            _handedOut.Add((group, group.Inputs));
        }
        _observer.Start(groups);
        _forward.RunNext();
        _observer.Finish(_tokens);
        _progress?.Report(new(CalibrationStage.Capture, _forward.Stages[stage].Name, stage + 1, _stagesNeeded));
        return groups;
    }

    /// <summary>max|x| per attention point seen so far (all of it once <see cref="CaptureNextStage"/> returned null).</summary>
    public IReadOnlyDictionary<string, float> AttentionMax() => _recorders.ToDictionary(r => r.Point.Name, r => r.Recorder.Max);

    /// <summary>Restores the model's observer and the attention points' quantizers.</summary>
    public void Dispose()
    {
        _model.Observer = _previousObserver;
        foreach (var (point, previous, _) in _recorders) point.Quantizer = previous;
    }

    /// <summary>Copies each batch's input of a group's first layer into the group's rows, batch after batch.</summary>
    private sealed class GroupObserver : ILinearObserver
    {
        private readonly Dictionary<LinearLayer, Cursor> _cursors = [];

        public void Start(IEnumerable<InputGroup> groups)
        {
            _cursors.Clear();
            foreach (var group in groups) _cursors[group.Layers[0]] = new Cursor(group);
        }

        public void Observe(LinearLayer layer, ReadOnlySpan<float> input, ReadOnlySpan<float> output, int rows)
        {
            if (!_cursors.TryGetValue(layer, out var cursor)) return;
            int features = cursor.Group.Features;
            input[..(rows * features)].CopyTo(cursor.Group.Inputs.AsSpan(cursor.Row * features));
            cursor.Row += rows;
        }

        /// <summary>Checks that every group of the stage saw all <paramref name="tokens"/> rows, so a reused input array keeps nothing of its previous group.</summary>
        public void Finish(int tokens)
        {
            foreach (var cursor in _cursors.Values)
                if (cursor.Row != tokens)
                    throw new InvalidOperationException($"capture: {cursor.Group.Name} saw {cursor.Row} of {tokens} calibration tokens; the model's stage did not run its layer once per batch.");
            _cursors.Clear();
        }

        private sealed class Cursor(InputGroup group)
        {
            public InputGroup Group { get; } = group;
            public int Row { get; set; }
        }
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
