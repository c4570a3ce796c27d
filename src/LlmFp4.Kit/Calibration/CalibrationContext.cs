using System.Numerics.Tensors;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// What a <see cref="ICalibrationMethod"/> works with: the model, the config, the captured input groups, the parameters
/// it replaces, progress, timings and cancellation, and the helpers every method shares (the layer-result factory and the
/// per-channel fold).
/// </summary>
public sealed class CalibrationContext : IProgress<CalibrationProgress>
{
    private readonly IProgress<CalibrationProgress>? _progress;

    internal CalibrationContext(IQuantizableModel model, QuantConfig config, IReadOnlyList<InputGroup> groups,
        IProgress<CalibrationProgress>? progress, CancellationToken cancellation)
    {
        Model = model;
        Config = config;
        Groups = groups;
        _progress = progress;
        Cancellation = cancellation;
    }

    /// <summary>The full-precision model being calibrated (left unchanged).</summary>
    public IQuantizableModel Model { get; }

    /// <summary>The config being calibrated.</summary>
    public QuantConfig Config { get; }

    /// <summary>
    /// Every input group, in execution order. A group holds its captured <see cref="InputGroup.Inputs"/> from its block's
    /// capture until it has been calibrated, and is empty before and after; when the method
    /// <see cref="ICalibrationMethod.NeedsEveryInputFirst"/>, every group holds its input from <see cref="ICalibrationMethod.Prepare"/> on.
    /// </summary>
    public IReadOnlyList<InputGroup> Groups { get; }

    /// <summary>Replaced parameters by checkpoint name (quantized, folded, reordered), the result's tensors.</summary>
    public Dictionary<string, float[]> Tensors { get; } = [];

    /// <summary>The <see cref="Timings"/> entry of the layers' output-error measurement (<see cref="Layer"/>).</summary>
    public const string LayerErrorStage = "layer output error";

    /// <summary>Seconds per stage.</summary>
    public Dictionary<string, double> Timings { get; } = [];

    /// <summary>
    /// Adds <paramref name="seconds"/> to stage <paramref name="stage"/> of <see cref="Timings"/> and, for a stage inside
    /// one input group's calibration, to that group's share of it (<see cref="GroupTiming"/>).
    /// </summary>
    public void AddTime(string stage, double seconds, InputGroup? group = null)
    {
        Timings[stage] = Timings.GetValueOrDefault(stage) + seconds;
        if (group is not null)
        {
            string part = GroupTiming(group.Name, stage);
            Timings[part] = Timings.GetValueOrDefault(part) + seconds;
        }
    }

    /// <summary>
    /// The <see cref="Timings"/> key of group <paramref name="group"/>'s wall seconds, <c>group NAME</c>, or with
    /// <paramref name="stage"/> of that stage's seconds within the group, <c>group NAME: STAGE</c>.
    /// </summary>
    public static string GroupTiming(string group, string? stage = null) => stage is null ? $"group {group}" : $"group {group}: {stage}";

    /// <summary>Observed between groups and at every progress report.</summary>
    public CancellationToken Cancellation { get; }

    /// <summary>Reports progress (and stops here with <see cref="OperationCanceledException"/> once cancelled).</summary>
    public void Report(CalibrationStage stage, string item, int done, int total)
    {
        Cancellation.ThrowIfCancellationRequested();
        _progress?.Report(new(stage, item, done, total));
    }

    void IProgress<CalibrationProgress>.Report(CalibrationProgress value) => Report(value.Stage, value.Item, value.Done, value.Total);

    /// <summary>
    /// A layer's result: records <paramref name="quantizedWeight"/> as the layer's replaced weight when it is a new array,
    /// and measures the layer's output MSE on the calibration set, mean((X·Wᵀ − X̂·Ŵᵀ)²) (<see cref="LayerError.Mse"/>).
    /// The reference is the group's captured input and the layer's weight unless <paramref name="referenceInputs"/> /
    /// <paramref name="referenceWeight"/> say otherwise (RPTQ measures in its reordered channels); <paramref name="inputDivisors"/>
    /// is a per-channel input scale folded into the norm (the quantized path divides by it before the input quantizer).
    /// </summary>
    public LayerCalibration Layer(InputGroup group, LinearLayer layer, TensorQuantizer? weightQuantizer, float[] quantizedWeight,
        TensorQuantizer? inputQuantizer, string? weightFormat, string? activationFormat, MethodLayerResult? details = null,
        float[]? inputDivisors = null, float[]? referenceInputs = null, float[]? referenceWeight = null)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(layer);
        if (!ReferenceEquals(quantizedWeight, layer.Weight)) Tensors[layer.WeightName] = quantizedWeight;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        double mse = LayerError.Mse(referenceInputs ?? group.Inputs, group.Tokens, layer.InFeatures, layer.OutFeatures,
            referenceWeight ?? layer.Weight, quantizedWeight, inputQuantizer, inputDivisors);
        AddTime(LayerErrorStage, clock.Elapsed.TotalSeconds, group);
        return new LayerCalibration
        {
            Name = layer.Name,
            InFeatures = layer.InFeatures,
            OutFeatures = layer.OutFeatures,
            WeightQuantizer = weightQuantizer,
            InputQuantizer = inputQuantizer,
            WeightFormat = weightFormat,
            ActivationFormat = activationFormat,
            OutputMse = mse,
            Details = details,
        };
    }

    /// <summary>The embedding's result: records the quantized table and its MSE against the full-precision one.</summary>
    public EmbeddingCalibration Embedding(NamedTensor table, TensorQuantizer quantizer, string format, IReadOnlyList<FormatCurve>? search)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(quantizer);
        var quantized = quantizer.Quantize(table.Data, table.Shape[0], table.Shape[1]);
        Tensors[table.Name] = quantized;
        var negated = new float[quantized.Length];
        TensorPrimitives.Negate(quantized, negated);
        double mse = DoubleSums.SumOfSquaredSums(table.Data, negated) / table.Data.Length;
        return new EmbeddingCalibration(format, quantizer, mse, search);
    }

    /// <summary>
    /// Folds a per-channel input scale into the norm that produces <paramref name="group"/>'s input (each of its per-channel
    /// parameters divided by <paramref name="scales"/>), so the norm outputs X / s. The consumers' weight columns take
    /// the factor instead (<see cref="ChannelScaling.ScaleColumns"/>). Throws <see cref="InvalidOperationException"/> when no
    /// norm produces the input, or when the norm's output is also the residual stream (<see cref="InputGroup.CanFoldIntoNorm"/>).
    /// </summary>
    public void FoldIntoNorm(InputGroup group, ReadOnlySpan<float> scales)
    {
        ArgumentNullException.ThrowIfNull(group);
        if (!group.HasNorm) throw new InvalidOperationException($"{group.Name}: no norm produces this input, so a scale cannot be folded into one.");
        if (group.NormFeedsResidual)
            throw new InvalidOperationException($"{group.Name}: in this post-norm {Model.Architecture} model the norm's output is also the residual stream, " +
                "so a scale folded into it would change the model; divide the input at its quantizer instead.");
        foreach (var parameter in group.Norm)
        {
            var folded = new float[parameter.Data.Length];
            TensorPrimitives.Divide(parameter.Data, scales, folded);
            Tensors[parameter.Name] = folded;
        }
    }

    /// <summary>"E2M1" for an FP spec's starting format, "INT4" / "UINT4" for an INT spec, null for none.</summary>
    public static string? FormatName(QuantSpec? spec) => spec switch
    {
        null => null,
        { Kind: NumberKind.Int } => spec.IntFormat.ToString(),
        _ => FormatName(spec.StartFormat),
    };

    /// <summary>"E2M1": a format's exponent and mantissa widths (the bias lives in the quantizer), as <see cref="FpQuantizer"/> writes its format.</summary>
    public static string FormatName(FpFormat format) => FpQuantizer.ElementName(format);
}

/// <summary>Per-channel scalings X·Wᵀ = (X / s)·(W·diag(s))ᵀ shared by SmoothQuant, FPTQ's equalization and FPQ's folded pre-shift.</summary>
public static class ChannelScaling
{
    /// <summary>W·diag(s): column j of the [rows × cols] <paramref name="weight"/> times <paramref name="scales"/>[j].</summary>
    public static float[] ScaleColumns(ReadOnlySpan<float> weight, int rows, int cols, ReadOnlySpan<float> scales)
    {
        if (scales.Length != cols || weight.Length != rows * cols)
            throw new ArgumentException($"ScaleColumns: a [{rows} × {cols}] weight needs {cols} scales, got {scales.Length} for {weight.Length} values.");
        var result = new float[weight.Length];
        for (int r = 0; r < rows; r++)
            TensorPrimitives.Multiply(weight.Slice(r * cols, cols), scales, result.AsSpan(r * cols, cols));
        return result;
    }

    /// <summary>X / s: column j of the [rows × cols] <paramref name="inputs"/> divided by <paramref name="scales"/>[j].</summary>
    public static float[] DivideColumns(ReadOnlySpan<float> inputs, int rows, int cols, ReadOnlySpan<float> scales)
    {
        if (scales.Length != cols || inputs.Length != rows * cols)
            throw new ArgumentException($"DivideColumns: a [{rows} × {cols}] input needs {cols} scales, got {scales.Length} for {inputs.Length} values.");
        var result = new float[inputs.Length];
        for (int r = 0; r < rows; r++)
            TensorPrimitives.Divide(inputs.Slice(r * cols, cols), scales, result.AsSpan(r * cols, cols));
        return result;
    }
}
