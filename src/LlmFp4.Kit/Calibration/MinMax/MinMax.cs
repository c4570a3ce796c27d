using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// Min-max quantizers (no search, docs/methods.md §10): the clipping range of each scale slot is max|x| of the slot (FP:
/// bias b = log2(M0 / max|x|) on the starting format, <see cref="FpFormat.BiasForMaxValue"/>; symmetric INT:
/// scale = max|x| / QMax; asymmetric INT: the slot's min and max). Used by the MinMax method and, for the grids they
/// start from, by the others.
/// </summary>
public static class MinMax
{
    /// <summary>Quantizer for a weight-like [rows × cols] matrix at the spec's granularity (weights: per output channel).</summary>
    public static TensorQuantizer ForMatrix(QuantSpec spec, ReadOnlySpan<float> values, int rows, int cols)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Kind == NumberKind.Int)
            return IntQuantizer.MinMax(spec.IntFormat, spec.Granularity, values, rows, cols);
        var format = spec.StartFormat;
        var max = new float[spec.Granularity.ScaleCount(rows, cols)];
        FakeQuant.AbsMax(values, rows, cols, spec.Granularity, max);
        return new FpQuantizer(format, spec.Granularity, [.. max.Select(m => format.BiasForMaxValue(m))]);
    }

    /// <summary>
    /// Activation quantizer from the calibration data (one range over all tokens) or, for dynamic INT specs, the
    /// per-token run-time quantizer.
    /// </summary>
    public static TensorQuantizer ForActivation(QuantSpec spec, ReadOnlySpan<float> values, int tokens, int features)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Dynamic) return new DynamicIntQuantizer(spec.IntFormat);
        if (spec.Granularity != Granularity.PerTensor)
            throw new ArgumentException($"activations: min-max calibration keeps one static range per tensor, got {spec.Granularity}.");
        return ForMatrix(spec, values, tokens, features);
    }

    /// <summary>A per-tensor quantizer for values known to lie in [-max, max] (attention operands, from their recorded range).</summary>
    public static TensorQuantizer ForAbsMax(QuantSpec spec, float max)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Kind == NumberKind.Int)
            return IntQuantizer.FromRange(spec.IntFormat, Granularity.PerTensor, [-max], [max]);
        return FpQuantizer.PerTensor(spec.StartFormat, spec.StartFormat.BiasForMaxValue(max));
    }
}

/// <summary>The MinMax method: every layer's weight and input quantizers from their ranges, weights rounded to nearest.</summary>
internal sealed class MinMaxMethod : ICalibrationMethod<MinMaxSettings>
{
    public IEnumerable<LayerCalibration> CalibrateGroup(CalibrationContext context, InputGroup group)
    {
        var config = context.Config;
        var input = config.Activations is { } a ? MinMax.ForActivation(a, group.Inputs, group.Tokens, group.Features) : null;
        foreach (var layer in group.Layers)
        {
            var weight = config.Weights is { } w ? MinMax.ForMatrix(w, layer.Weight, layer.OutFeatures, layer.InFeatures) : null;
            var quantized = weight?.Quantize(layer.Weight, layer.OutFeatures, layer.InFeatures) ?? layer.Weight;
            yield return context.Layer(group, layer, weight, quantized, input, CalibrationContext.FormatName(config.Weights),
                CalibrationContext.FormatName(config.Activations), null);
        }
    }
}
