using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Models;

namespace LlmFp4.Kit.Analysis;

/// <summary>
/// Per-channel statistics of every linear layer's input on a calibration set: the data of LLM-FP4's Figs. 2, 5, 6
/// and of the calibration report. Layers that read the same input (q/k/v; gate/up) share one entry, named after the
/// <see cref="InputGroup"/> (e.g. <c>model.layers.0.self_attn.qkv_input</c>, <c>encoder.layer.0.attention.self.qkv_input</c>).
/// Works on any <see cref="IQuantizableModel"/> (the LLaMA decoder, the BERT encoder).
/// </summary>
public static class ActivationStatistics
{
    /// <summary>
    /// Runs the full-precision <paramref name="model"/> over <paramref name="set"/> and returns one
    /// <see cref="ChannelStatistics"/> per input group, in execution order (a decoder's lm_head input last when
    /// <paramref name="includeLmHead"/>). The capture runs one block at a time (<see cref="StagedCapture"/>) and each
    /// group's input is released once its statistics are computed, so one block's inputs are held at a time
    /// (tokens × that block's features floats). The model must not be quantized.
    /// </summary>
    public static IReadOnlyList<ChannelStatistics> Capture(IQuantizableModel model, CalibrationSet set, bool includeLmHead = true,
        IProgress<CalibrationProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(set);
        var groups = InputGroup.ForModel(model, includeLmHead);
        var statistics = new List<ChannelStatistics>(groups.Count);
        using var capture = new StagedCapture(model, set, groups, progress: progress);
        while (capture.CaptureNextStage() is { } stage)
            foreach (var group in stage)
            {
                progress?.Report(new(CalibrationStage.Layers, group.Name, statistics.Count, groups.Count));
                statistics.Add(ChannelStatistics.Compute(group.Name, group.Inputs, group.Tokens, group.Features));
                group.Inputs = [];
            }
        progress?.Report(new(CalibrationStage.Layers, "done", groups.Count, groups.Count));
        return statistics;
    }
}
