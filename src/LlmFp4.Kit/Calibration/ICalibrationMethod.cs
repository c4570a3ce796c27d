using System.Reflection;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// One calibration method (a sub-folder of Calibration/): given the captured input groups in a
/// <see cref="CalibrationContext"/>, it chooses every layer's quantizers and replaced weights. <see cref="Calibrator"/>
/// runs the shared part (capture, the layer loop, progress, timings, cancellation, the embedding and attention
/// operands); a method implements <see cref="CalibrateGroup"/> and, where it needs them, the other members.
/// <see cref="CalibrateGroup"/> may read only the group it is given: the other groups' inputs are not held at the time
/// (with <see cref="NeedsEveryInputFirst"/>, those of the groups still to come are).
/// </summary>
public interface ICalibrationMethod
{
    /// <summary>
    /// Throws <see cref="NotSupportedException"/> naming the model and the missing piece when <paramref name="model"/> lacks
    /// something this method needs (e.g. RPTQ's channel layout). Runs before the capture.
    /// </summary>
    void CheckModel(IQuantizableModel model) { }

    /// <summary>
    /// False (the default) when every group is calibrated from its own input alone: <see cref="Calibrator"/> then captures
    /// the model one block at a time and calibrates and releases that block's groups before the next block runs, so only
    /// one block's inputs are held at once. True when <see cref="Prepare"/> reads every group's input (RPTQ clusters the
    /// channels of all norm outputs together): every input is captured first, as one whole-model capture.
    /// </summary>
    bool NeedsEveryInputFirst => false;

    /// <summary>
    /// A whole-model step before the layer loop (RPTQ: clustering and the reorder). It runs after the capture when
    /// <see cref="NeedsEveryInputFirst"/>, otherwise before it, when no group holds its input yet.
    /// </summary>
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

/// <summary>
/// A method that runs configs whose method is a <typeparamref name="TSettings"/> (or a record deriving from it): the
/// declaration is the registration, <see cref="CalibrationMethods.For"/> finds the implementation by its settings type.
/// It is constructed with the settings (a constructor taking one <typeparamref name="TSettings"/>, else a parameterless one).
/// </summary>
/// <typeparam name="TSettings">The settings record, marked with its <see cref="MethodNameAttribute"/>.</typeparam>
public interface ICalibrationMethod<TSettings> : ICalibrationMethod where TSettings : MethodSettings
{
}

/// <summary>The method that runs a config's <see cref="MethodSettings"/>: the one map from settings to code.</summary>
public static class CalibrationMethods
{
    private static readonly Lazy<IReadOnlyDictionary<Type, Type>> MethodsBySettings = new(FindMethods);

    /// <summary>
    /// The method for <paramref name="settings"/>: the <see cref="ICalibrationMethod{TSettings}"/> of the kit or of a loaded
    /// assembly whose settings type is the record's type or its nearest base.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">No loaded method handles these settings; the message names their type.</exception>
    public static ICalibrationMethod For(MethodSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        for (var type = settings.GetType(); type != typeof(MethodSettings) && type is not null; type = type.BaseType)
        {
            if (!MethodsBySettings.Value.TryGetValue(type, out var method)) continue;
            const BindingFlags Constructors = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
            return (ICalibrationMethod)(method.GetConstructor(Constructors, [type]) is { } withSettings
                ? withSettings.Invoke([settings])
                : Activator.CreateInstance(method, nonPublic: true)!);
        }
        throw new ArgumentOutOfRangeException(nameof(settings), settings,
            $"No calibration method handles {settings.GetType().FullName} (implement ICalibrationMethod<{settings.GetType().Name}>).");
    }

    private static IReadOnlyDictionary<Type, Type> FindMethods()
    {
        var methods = new Dictionary<Type, Type>();
        foreach (var type in MethodRegistry.Types.Where(t => t is { IsClass: true, IsAbstract: false, ContainsGenericParameters: false }))
            foreach (var face in type.GetInterfaces().Where(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(ICalibrationMethod<>)))
            {
                var settings = face.GetGenericArguments()[0];
                if (methods.TryGetValue(settings, out var other))
                    throw new InvalidOperationException($"{other.FullName} and {type.FullName} both run {settings.FullName}; one method per settings record.");
                methods[settings] = type;
            }
        return methods;
    }
}
