using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// The LLM-FP4 methods (docs/methods.md §3, §4): the FPQ baseline (one activation bias per tensor) and FPQ (the
/// pre-shifted per-channel bias), each layer searched by <see cref="FpqSearch"/>, the embedding by
/// <see cref="EmbeddingSearch"/>. FPQ also checks what folding its power-of-two channel factors into the weights does to
/// the weight grid (<see cref="PreShiftedFold.Check"/>).
/// </summary>
internal sealed class FpqMethod(FpSearchSettings settings) : ICalibrationMethod<FpSearchSettings>
{
    private bool PreShifted => settings is FpqSettings;

    public IEnumerable<LayerCalibration> CalibrateGroup(CalibrationContext context, InputGroup group)
    {
        var config = context.Config;
        var searched = new FpqSearch(group, config.Weights, config.Activations, settings.Search, PreShifted, context).Run();
        foreach (var found in searched)
        {
            var layer = found.Layer;
            FpQuantizer? weight = found is { WeightFormat: { } wf, WeightBiases: { } wb } ? FpQuantizer.PerRow(wf, wb) : null;
            var quantized = weight?.Quantize(layer.Weight, layer.OutFeatures, layer.InFeatures) ?? layer.Weight;
            var fold = weight is not null && found.ActivationOffsets is { } offsets
                ? PreShiftedFold.Check(quantized, layer.OutFeatures, layer.InFeatures, weight, offsets) : null;
            yield return context.Layer(group, layer, weight, quantized, found.InputQuantizer,
                found.WeightFormat is { } w ? CalibrationContext.FormatName(w) : null,
                found.ActivationFormat is { } a ? CalibrationContext.FormatName(a) : null,
                new FpqLayerResult(fold, found.Trace));
        }
    }

    public EmbeddingCalibration QuantizeEmbedding(CalibrationContext context, NamedTensor table, QuantSpec spec)
    {
        int rows = table.Shape[0], cols = table.Shape[1];
        if (spec.Kind != NumberKind.Fp)
            return context.Embedding(table, MinMax.ForMatrix(spec, table.Data, rows, cols), CalibrationContext.FormatName(spec)!, null);
        var (quantizer, curves) = EmbeddingSearch.Run(table.Data, rows, cols, spec, settings.Search, context);
        return context.Embedding(table, quantizer, CalibrationContext.FormatName(quantizer.Format), curves);
    }
}
