using LlmFp4.Kit.Models;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// A <see cref="LinearGroup"/> of the model (linear layers that read the same input, e.g. q/k/v) with that input captured
/// on the calibration set: <see cref="Inputs"/> is row-major [<see cref="Tokens"/> × <see cref="Features"/>]. Stored once
/// per group: the layers' outputs are X·Wᵀ and are recomputed exactly where needed rather than stored.
/// </summary>
public sealed class InputGroup
{
    internal InputGroup(string name, IReadOnlyList<LinearLayer> layers, IReadOnlyList<NamedTensor>? norm = null, bool normFeedsResidual = false)
    {
        Name = name;
        Layers = layers;
        Norm = norm ?? [];
        NormFeedsResidual = normFeedsResidual;
        Features = layers[0].InFeatures;
        if (layers.Any(l => l.InFeatures != Features))
            throw new ArgumentException($"{name}: layers sharing an input must have the same input width.");
        Inputs = [];
    }

    /// <summary>E.g. <c>model.layers.3.self_attn.qkv_input</c>.</summary>
    public string Name { get; }

    /// <summary>The layers that read this input.</summary>
    public IReadOnlyList<LinearLayer> Layers { get; }

    /// <summary>
    /// The per-channel parameters of the norm whose output is this input (RMSNorm: weight; LayerNorm: weight and bias), into
    /// which a per-channel input scale folds; empty when no norm produces it.
    /// </summary>
    public IReadOnlyList<NamedTensor> Norm { get; }

    /// <summary>True when a norm produces this input (<see cref="Norm"/> is not empty).</summary>
    public bool HasNorm => Norm.Count > 0;

    /// <summary>The norm's output is also the residual stream (post-LayerNorm BERT), see <see cref="LinearGroup.NormFeedsResidual"/>.</summary>
    public bool NormFeedsResidual { get; }

    /// <summary>A per-channel input scale can be folded into the norm: there is one and its output feeds only this group.</summary>
    public bool CanFoldIntoNorm => HasNorm && !NormFeedsResidual;

    /// <summary>Input channels.</summary>
    public int Features { get; }

    /// <summary>Captured rows (calibration tokens).</summary>
    public int Tokens { get; internal set; }

    /// <summary>The captured input [Tokens × Features], row-major.</summary>
    public float[] Inputs { get; internal set; }

    /// <summary>The input groups of <paramref name="model"/> in execution order (<see cref="IQuantizableModel.LinearGroups"/>), not yet captured.</summary>
    public static IReadOnlyList<InputGroup> ForModel(IQuantizableModel model, bool includeLmHead)
    {
        ArgumentNullException.ThrowIfNull(model);
        return [.. model.LinearGroups(includeLmHead).Select(g => new InputGroup(g.Name, g.Layers, g.Norm, g.NormFeedsResidual))];
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name} [{Tokens} × {Features}] → {string.Join(", ", Layers.Select(l => l.Name))}";
}
