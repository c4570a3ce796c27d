using System.Numerics.Tensors;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// FPTQ (Zhang et al. 2023, METHODS §8): W4A8 with a per-layer activation policy by v = max|X| of the layer's input on
/// the calibration set — v &lt; <see cref="FptqSettings.EqualizeFrom"/>: per-tensor static INT8 ("static");
/// up to <see cref="FptqSettings.DynamicFrom"/>: logarithmic activation equalization s_j = max|X_j| / log2(2 + max|X_j|),
/// X/s folded into the preceding RMSNorm weight and s into the weight columns, then per-tensor static ("equalized");
/// above: per-token dynamic INT8 ("dynamic"). Weights: the config's grid (group-wise INT4), rounded to nearest or by GPTQ.
/// </summary>
/// <remarks>
/// Equalization needs a norm to fold into (the q/k/v, gate/up and lm_head inputs). The o_proj and down_proj inputs have
/// none, so in the middle range they take the per-token dynamic treatment instead of an explicit division at run time.
/// </remarks>
public static class Fptq
{
    /// <summary>The policy names recorded in <see cref="LayerCalibration.ActivationPolicy"/>.</summary>
    public const string Static = "static", Equalized = "equalized", Dynamic = "dynamic";

    internal static List<LayerCalibration> Run(QuantConfig config, IReadOnlyList<InputGroup> groups, Dictionary<string, float[]> tensors,
        IProgress<CalibrationProgress>? progress)
    {
        var settings = config.Fptq!;
        var result = new List<LayerCalibration>();
        foreach (var (group, index) in groups.Select((g, i) => (g, i)))
        {
            progress?.Report(new("layers", group.Name, index, groups.Count));
            int tokens = group.Tokens, features = group.Features;
            string policy = Policy(FpBias.AbsMax(group.Inputs), group.Norm is not null, settings);
            float[]? scales = policy == Equalized ? LogScales(group.Inputs, tokens, features) : null;
            var inputs = group.Inputs;
            if (scales is not null)
            {
                inputs = new float[group.Inputs.Length];
                for (int t = 0; t < tokens; t++)
                    TensorPrimitives.Divide(group.Inputs.AsSpan(t * features, features), scales, inputs.AsSpan(t * features, features));
                var folded = new float[features];
                TensorPrimitives.Divide(group.Norm!.Data, scales, folded);
                tensors[group.Norm.Name] = folded;
            }
            TensorQuantizer? input = config.Activations is not { } a ? null
                : policy == Dynamic ? new DynamicIntQuantizer(a.IntFormat)
                : MinMax.ForActivation(a, inputs, tokens, features);
            double[]? hessian = settings.Gptq && config.Weights is not null ? Gptq.Hessian(inputs, tokens, features) : null;
            foreach (var layer in group.Layers)
            {
                var weight = layer.Weight;
                if (scales is not null)
                {
                    weight = new float[layer.Weight.Length];
                    for (int r = 0; r < layer.OutFeatures; r++)
                        TensorPrimitives.Multiply(layer.Weight.AsSpan(r * features, features), scales, weight.AsSpan(r * features, features));
                }
                var grid = config.Weights is { } w ? MinMax.ForMatrix(w, weight, layer.OutFeatures, features) : null;
                var quantized = grid is null ? weight
                    : hessian is null ? grid.Quantize(weight, layer.OutFeatures, features)
                    : Gptq.Quantize(weight, layer.OutFeatures, features, hessian, grid, config.Gptq);
                if (!ReferenceEquals(quantized, layer.Weight)) tensors[layer.WeightName] = quantized;
                result.Add(new LayerCalibration
                {
                    Name = layer.Name,
                    InFeatures = features,
                    OutFeatures = layer.OutFeatures,
                    WeightQuantizer = grid,
                    InputQuantizer = input,
                    WeightFormat = Calibrator.FormatName(config.Weights) is { } name && hessian is not null ? name + ", GPTQ" : Calibrator.FormatName(config.Weights),
                    ActivationFormat = input?.ToString(),
                    ActivationPolicy = policy,
                    SmoothingScales = scales,
                    OutputMse = LayerError.Mse(group.Inputs, tokens, features, layer.OutFeatures, layer.Weight, quantized, input, scales),
                });
            }
        }
        progress?.Report(new("layers", "done", groups.Count, groups.Count));
        return result;
    }

    /// <summary>The treatment of an input with max|X| = <paramref name="absMax"/> (see the class summary).</summary>
    public static string Policy(double absMax, bool hasNorm, FptqSettings settings) =>
        absMax < settings.EqualizeFrom ? Static : absMax < settings.DynamicFrom && hasNorm ? Equalized : Dynamic;

    /// <summary>s_j = max|X_j| / log2(2 + max|X_j|) per input channel; 1 for a channel that is always 0.</summary>
    public static float[] LogScales(ReadOnlySpan<float> inputs, int tokens, int features)
    {
        var max = FpBias.ColumnAbsMax(inputs, tokens, features);
        var scales = new float[features];
        for (int j = 0; j < features; j++)
            scales[j] = max[j] > 0 ? (float)(max[j] / Math.Log2(2 + max[j])) : 1f;
        return scales;
    }
}
