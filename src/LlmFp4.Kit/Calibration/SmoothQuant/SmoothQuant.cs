using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// SmoothQuant (Xiao et al. 2023, docs/methods.md §10): per input channel s_j = max|X_j|^α / max|W_j|^(1-α) (max over every
/// layer reading the input), X/s and W·diag(s), then min-max quantization of both. Where a norm produces the input and
/// feeds nothing else (LLaMA's q/k/v, gate/up, lm_head) 1/s is folded into it; otherwise (o_proj, down_proj, and every
/// input of a post-LayerNorm BERT, whose norms also write the residual stream) the layer's input quantizer divides by s
/// explicitly before quantizing. Scales of 0 (dead channels) are replaced by 1; s is clamped to at least 1e-5.
/// </summary>
internal sealed class SmoothQuantMethod(SmoothQuantSettings settings) : ICalibrationMethod<SmoothQuantSettings>
{
    public IEnumerable<LayerCalibration> CalibrateGroup(CalibrationContext context, InputGroup group)
    {
        var config = context.Config;
        int features = group.Features, tokens = group.Tokens;
        var scales = Scales(group, settings.Alpha);
        var inner = MinMax.ForActivation(config.Activations!, ChannelScaling.DivideColumns(group.Inputs, tokens, features, scales), tokens, features);
        TensorQuantizer input;
        if (group.CanFoldIntoNorm)
        {
            context.FoldIntoNorm(group, scales);
            input = inner;
        }
        else
        {
            input = new ColumnScaledQuantizer(scales, inner);
        }

        foreach (var layer in group.Layers)
        {
            var scaledWeight = ChannelScaling.ScaleColumns(layer.Weight, layer.OutFeatures, features, scales);
            var weight = config.Weights is { } w ? MinMax.ForMatrix(w, scaledWeight, layer.OutFeatures, features) : null;
            var quantized = weight?.Quantize(scaledWeight, layer.OutFeatures, features) ?? scaledWeight;
            yield return context.Layer(group, layer, weight, quantized, input, CalibrationContext.FormatName(config.Weights),
                CalibrationContext.FormatName(config.Activations), new SmoothQuantLayerResult(scales), group.CanFoldIntoNorm ? scales : null);
        }
    }

    /// <summary>s_j = max|X_j|^α / max|W_j|^(1-α), W stacked over the group's layers.</summary>
    internal static float[] Scales(InputGroup group, double alpha)
    {
        int features = group.Features;
        var activationMax = Ranges.ColumnAbsMax(group.Inputs, group.Tokens, features);
        var weightMax = new float[features];
        foreach (var layer in group.Layers)
        {
            var layerMax = Ranges.ColumnAbsMax(layer.Weight, layer.OutFeatures, features);
            System.Numerics.Tensors.TensorPrimitives.Max(weightMax, layerMax, weightMax);
        }
        var scales = new float[features];
        for (int j = 0; j < features; j++)
        {
            double s = Math.Pow(activationMax[j], alpha) / Math.Pow(weightMax[j], 1 - alpha);
            scales[j] = activationMax[j] == 0 || weightMax[j] == 0 || !double.IsFinite(s) ? 1f : (float)Math.Max(s, 1e-5);
        }
        return scales;
    }
}
