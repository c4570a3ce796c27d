using System.Numerics.Tensors;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// SmoothQuant (Xiao et al. 2023): per input channel s_j = max|X_j|^α / max|W_j|^(1-α) (max over every layer reading
/// the input), X/s and W·diag(s), then min-max quantization of both. Where an RMSNorm produces the input (q/k/v,
/// gate/up, lm_head) 1/s is folded into its weight; otherwise (o_proj, down_proj) the layer's input quantizer divides
/// by s explicitly before quantizing. Scales of 0 (dead channels) are replaced by 1; s is clamped to at least 1e-5.
/// </summary>
internal static class SmoothQuant
{
    public static List<LayerCalibration> Run(LlamaModel model, QuantConfig config, IReadOnlyList<InputGroup> groups, Dictionary<string, float[]> tensors)
    {
        double alpha = config.SmoothQuant.Alpha;
        var activations = config.Activations!;
        var result = new List<LayerCalibration>();
        foreach (var group in groups)
        {
            int features = group.Features, tokens = group.Tokens;
            var scales = Scales(group, alpha);
            var smoothed = (float[])group.Inputs.Clone();
            for (int t = 0; t < tokens; t++)
                TensorPrimitives.Divide(smoothed.AsSpan(t * features, features), scales, smoothed.AsSpan(t * features, features));
            var inner = MinMax.ForActivation(activations, smoothed, tokens, features);
            TensorQuantizer input;
            if (group.Norm is { } norm)
            {
                var folded = new float[features];
                TensorPrimitives.Divide(norm.Data, scales, folded);
                tensors[norm.Name] = folded;
                input = inner;
            }
            else
            {
                input = new ColumnScaledQuantizer(scales, inner);
            }

            foreach (var layer in group.Layers)
            {
                var scaledWeight = new float[layer.Weight.Length];
                for (int r = 0; r < layer.OutFeatures; r++)
                    TensorPrimitives.Multiply(layer.Weight.AsSpan(r * features, features), scales, scaledWeight.AsSpan(r * features, features));
                var weight = config.Weights is { } w ? MinMax.ForMatrix(w, scaledWeight, layer.OutFeatures, features) : null;
                var quantized = weight?.Quantize(scaledWeight, layer.OutFeatures, features) ?? scaledWeight;
                tensors[layer.WeightName] = quantized;
                result.Add(new LayerCalibration
                {
                    Name = layer.Name,
                    InFeatures = features,
                    OutFeatures = layer.OutFeatures,
                    WeightQuantizer = weight,
                    InputQuantizer = input,
                    WeightFormat = Calibrator.FormatName(config.Weights),
                    ActivationFormat = Calibrator.FormatName(activations),
                    SmoothingScales = scales,
                    OutputMse = LayerError.Mse(group.Inputs, tokens, features, layer.OutFeatures, layer.Weight, quantized, input,
                        group.Norm is null ? default : scales),
                });
            }
        }
        return result;
    }

    /// <summary>s_j = max|X_j|^α / max|W_j|^(1-α), W stacked over the group's layers.</summary>
    internal static float[] Scales(InputGroup group, double alpha)
    {
        int features = group.Features;
        var activationMax = FpBias.ColumnAbsMax(group.Inputs, group.Tokens, features);
        var weightMax = new float[features];
        foreach (var layer in group.Layers)
        {
            var layerMax = FpBias.ColumnAbsMax(layer.Weight, layer.OutFeatures, features);
            TensorPrimitives.Max(weightMax, layerMax, weightMax);
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
