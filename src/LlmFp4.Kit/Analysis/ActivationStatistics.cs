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
    /// <paramref name="includeLmHead"/>). Capture holds every group's input at once (tokens × Σ features floats), so
    /// size the set accordingly; the inputs are released before returning. The model must not be quantized.
    /// </summary>
    public static IReadOnlyList<ChannelStatistics> Capture(IQuantizableModel model, CalibrationSet set, bool includeLmHead = true,
        IProgress<CalibrationProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(set);
        var groups = InputGroup.ForModel(model, includeLmHead);
        ActivationCapture.Run(model, set, groups, progress: progress);
        var statistics = new List<ChannelStatistics>(groups.Count);
        foreach (var (group, index) in groups.Select((g, i) => (g, i)))
        {
            progress?.Report(new(CalibrationStage.Layers, group.Name, index, groups.Count));
            statistics.Add(ChannelStatistics.Compute(group.Name, group.Inputs, group.Tokens, group.Features));
            group.Inputs = [];
        }
        progress?.Report(new(CalibrationStage.Layers, "done", groups.Count, groups.Count));
        return statistics;
    }
}
