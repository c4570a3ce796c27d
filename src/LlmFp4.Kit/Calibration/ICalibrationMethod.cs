using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// One calibration method (a sub-folder of Calibration/): given the captured input groups in a
/// <see cref="CalibrationContext"/>, it chooses every layer's quantizers and replaced weights. <see cref="Calibrator"/>
/// runs the shared part (capture, the layer loop, progress, timings, cancellation, the embedding and attention
/// operands); a method implements <see cref="CalibrateGroup"/> and, where it needs them, the other members.
/// </summary>
public interface ICalibrationMethod
{
    /// <summary>
    /// Throws <see cref="NotSupportedException"/> naming the model and the missing piece when <paramref name="model"/> lacks
    /// something this method needs (e.g. RPTQ's channel layout). Runs before the capture.
    /// </summary>
    void CheckModel(IQuantizableModel model) { }

    /// <summary>A whole-model step after the capture and before the layer loop (RPTQ: clustering and the reorder).</summary>
    void Prepare(CalibrationContext context) { }

    /// <summary>The layers of <paramref name="group"/>, each made with <see cref="CalibrationContext.Layer"/>.</summary>
    IEnumerable<LayerCalibration> CalibrateGroup(CalibrationContext context, InputGroup group);

    /// <summary>The token embedding's per-row quantization (default: MinMax; the FPQ methods search it).</summary>
    EmbeddingCalibration QuantizeEmbedding(CalibrationContext context, NamedTensor table, QuantSpec spec)
    {
        int rows = table.Shape[0], cols = table.Shape[1];
        var quantizer = MinMax.ForMatrix(spec, table.Data, rows, cols);
        return context.Embedding(table, quantizer, CalibrationContext.FormatName(spec)!, null);
    }
}

/// <summary>The method that runs a config's <see cref="MethodSettings"/>: the one switch from settings to code.</summary>
public static class CalibrationMethods
{
    /// <summary>The method for <paramref name="settings"/>.</summary>
    public static ICalibrationMethod For(MethodSettings settings) => settings switch
    {
        MinMaxSettings => new MinMaxMethod(),
        FpSearchSettings search => new FpqMethod(search),
        SmoothQuantSettings smooth => new SmoothQuantMethod(smooth),
        GptqSettings gptq => new GptqMethod(gptq),
        RptqSettings rptq => new RptqMethod(rptq),
        FptqSettings fptq => new FptqMethod(fptq),
        _ => throw new ArgumentOutOfRangeException(nameof(settings), settings, "No calibration method for these settings."),
    };
}
