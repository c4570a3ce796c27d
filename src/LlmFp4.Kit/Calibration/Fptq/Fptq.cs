using System.Text.Json.Serialization;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Calibration;

/// <summary>FPTQ's treatment of one layer input, chosen from v = max|X| (<see cref="FptqMethod.Policy"/>).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<FptqPolicy>))]
public enum FptqPolicy
{
    /// <summary>v below <see cref="FptqSettings.EqualizeFrom"/>: per-tensor static INT8.</summary>
    [JsonStringEnumMemberName("static")] Static,

    /// <summary>In between, with a norm to fold into: logarithmic activation equalization, then per-tensor static INT8.</summary>
    [JsonStringEnumMemberName("equalized")] Equalized,

    /// <summary>From <see cref="FptqSettings.DynamicFrom"/> on (or in between without a norm): per-token dynamic INT8.</summary>
    [JsonStringEnumMemberName("dynamic")] Dynamic,
}

/// <summary>
/// FPTQ (Zhang et al. 2023, docs/methods.md §8): W4A8 with a per-layer activation policy by v = max|X| of the layer's input
/// on the calibration set (<see cref="FptqPolicy"/>); equalization is s_j = max|X_j| / log2(2 + max|X_j|), X/s folded into
/// the norm that produces the input and s into the weight columns. Weights: the config's grid (group-wise INT4), rounded
/// to nearest or by GPTQ.
/// </summary>
/// <remarks>
/// Equalization needs a norm to fold into (LLaMA: the q/k/v, gate/up and lm_head inputs). The o_proj and down_proj inputs
/// have none, so in the middle range they take the per-token dynamic treatment instead of an explicit division at run time.
/// So do all inputs of a post-LayerNorm BERT: its norms also write the residual stream (<see cref="InputGroup.CanFoldIntoNorm"/>).
/// </remarks>
public sealed class FptqMethod(FptqSettings settings) : ICalibrationMethod<FptqSettings>
{
    /// <inheritdoc />
    public IEnumerable<LayerCalibration> CalibrateGroup(CalibrationContext context, InputGroup group)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(group);
        var config = context.Config;
        int tokens = group.Tokens, features = group.Features;
        var policy = Policy(Ranges.AbsMax(group.Inputs), group.CanFoldIntoNorm, settings);
        float[]? scales = policy == FptqPolicy.Equalized ? LogScales(group.Inputs, tokens, features) : null;
        var inputs = group.Inputs;
        if (scales is not null)
        {
            inputs = ChannelScaling.DivideColumns(group.Inputs, tokens, features, scales);
            context.FoldIntoNorm(group, scales);
        }
        TensorQuantizer? input = config.Activations is not { } a ? null
            : policy == FptqPolicy.Dynamic ? new DynamicIntQuantizer(a.IntFormat)
            : MinMax.ForActivation(a, inputs, tokens, features);
        double[]? hessian = settings.Gptq is not null && config.Weights is not null ? Gptq.Hessian(inputs, tokens, features) : null;
        foreach (var layer in group.Layers)
        {
            var weight = scales is null ? layer.Weight : ChannelScaling.ScaleColumns(layer.Weight, layer.OutFeatures, features, scales);
            var grid = config.Weights is { } w ? MinMax.ForMatrix(w, weight, layer.OutFeatures, features) : null;
            var quantized = grid is null ? weight
                : hessian is null ? grid.Quantize(weight, layer.OutFeatures, features)
                : Gptq.Quantize(weight, layer.OutFeatures, features, hessian, grid, settings.Gptq!);
            string? weightFormat = CalibrationContext.FormatName(config.Weights) is { } name && hessian is not null ? name + ", GPTQ" : CalibrationContext.FormatName(config.Weights);
            yield return context.Layer(group, layer, grid, quantized, input, weightFormat, input?.ToString(),
                new FptqLayerResult(policy, scales), scales);
        }
    }

    /// <summary>The treatment of an input with max|X| = <paramref name="absMax"/> (see <see cref="FptqPolicy"/>); <paramref name="hasNorm"/>: a norm the equalization can fold into.</summary>
    public static FptqPolicy Policy(double absMax, bool hasNorm, FptqSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return absMax < settings.EqualizeFrom ? FptqPolicy.Static : absMax < settings.DynamicFrom && hasNorm ? FptqPolicy.Equalized : FptqPolicy.Dynamic;
    }

    /// <summary>s_j = max|X_j| / log2(2 + max|X_j|) per input channel of X [tokens × features]; 1 for a channel that is always 0.</summary>
    public static float[] LogScales(ReadOnlySpan<float> inputs, int tokens, int features)
    {
        var max = Ranges.ColumnAbsMax(inputs, tokens, features);
        var scales = new float[features];
        for (int j = 0; j < features; j++)
            scales[j] = max[j] > 0 ? (float)(max[j] / Math.Log2(2 + max[j])) : 1f;
        return scales;
    }
}
