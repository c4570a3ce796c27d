using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Models;

/// <summary>
/// One stage of a <see cref="StagedForward"/>: a decoder or encoder block, or the output head.
/// </summary>
/// <param name="Name">The module it runs, e.g. <c>model.layers.3</c>, <c>encoder.layer.0</c>, <c>lm_head</c>.</param>
/// <param name="Linears">The linear layers the stage runs, in execution order.</param>
/// <param name="AttentionMatMulPoints">The attention-matmul points the stage passes its operands through (none for a head).</param>
public sealed record ForwardStage(string Name, IReadOnlyList<LinearLayer> Linears, IReadOnlyList<QuantizationPoint> AttentionMatMulPoints);

/// <summary>
/// A model's forward pass over fixed batches of whole sequences, run one stage at a time: every batch through block 0,
/// then every batch through block 1, …, then through the head. Between stages it keeps the residual stream of every token
/// ([tokens × hidden] float32, batch after batch), so a calibrator can capture one block's linear inputs, use them and
/// release them before the next block runs. A stage copies a batch's residual stream into the model's own activation
/// buffer and runs the code of the model's ordinary forward pass on it, so the observer and the quantization points see
/// the values a whole forward pass of that batch shows them, bit for bit. Made by
/// <see cref="IQuantizableModel.StartStagedForward"/>; the model must run nothing else until the last stage is done
/// (the buffers are shared).
/// </summary>
public sealed class StagedForward
{
    /// <summary>Runs one stage on one batch of <paramref name="tokens"/> tokens whose residual stream is in the model's buffer.</summary>
    internal delegate void BatchStep(IReadOnlyList<int[]> sequences, int tokens);

    private readonly IReadOnlyList<IReadOnlyList<int[]>> _batches;
    private readonly int[] _batchTokens;
    private readonly int _width;
    private readonly float[] _residual;
    private readonly Func<int, float[]> _buffer;
    private readonly IReadOnlyList<BatchStep> _steps;

    /// <param name="batches">Checked batches of sequences.</param>
    /// <param name="width">Width of the residual stream (hidden size).</param>
    /// <param name="buffer">The model's residual buffer, grown to hold the given number of tokens.</param>
    /// <param name="embed">Writes a batch's embedded tokens into the model's residual buffer.</param>
    /// <param name="stages">The stages in execution order, each with its step.</param>
    internal StagedForward(IReadOnlyList<IReadOnlyList<int[]>> batches, int width, Func<int, float[]> buffer, BatchStep embed,
        IReadOnlyList<(ForwardStage Stage, BatchStep Run)> stages)
    {
        _batches = batches;
        _batchTokens = [.. batches.Select(b => b.Sum(s => s.Length))];
        long values = _batchTokens.Sum(t => (long)t) * width;
        if (values > Array.MaxLength)
            throw new ArgumentException($"A staged forward over {_batchTokens.Sum(t => (long)t)} tokens needs more than one array for the residual stream (hidden {width}); use fewer tokens.");
        _width = width;
        _buffer = buffer;
        Stages = [.. stages.Select(s => s.Stage)];
        _steps = [.. stages.Select(s => s.Run)];
        _residual = new float[values];
        ForEachBatch(embed, copyIn: false);
    }

    /// <summary>The stages in execution order: the blocks, then the head where the model has one.</summary>
    public IReadOnlyList<ForwardStage> Stages { get; }

    /// <summary>Index into <see cref="Stages"/> of the stage <see cref="RunNext"/> runs; equals the count once all have run.</summary>
    public int Next { get; private set; }

    /// <summary>Runs stage <see cref="Next"/> over every batch, in order, and moves on to the next one.</summary>
    /// <exception cref="InvalidOperationException">Every stage has run.</exception>
    public void RunNext()
    {
        if (Next >= Stages.Count) throw new InvalidOperationException($"The staged forward has run all {Stages.Count} stages.");
        ForEachBatch(_steps[Next], copyIn: true);
        Next++;
    }

    private void ForEachBatch(BatchStep step, bool copyIn)
    {
        int offset = 0;
        for (int b = 0; b < _batches.Count; b++)
        {
            int tokens = _batchTokens[b], length = tokens * _width;
            if (tokens == 0) continue;
            var buffer = _buffer(tokens);
            Span<float> kept = _residual.AsSpan(offset, length);
            if (copyIn) kept.CopyTo(buffer);
            step(_batches[b], tokens);
            buffer.AsSpan(0, length).CopyTo(kept);
            offset += length;
        }
    }
}
