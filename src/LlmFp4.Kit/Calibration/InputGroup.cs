using LlmFp4.Kit.Models;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// Linear layers that read the same input (q/k/v; gate/up; or a single layer), with that input captured on the
/// calibration set: <see cref="Inputs"/> is row-major [<see cref="Tokens"/> × <see cref="Features"/>]. Stored once per
/// group: the layers' outputs are X·Wᵀ and are recomputed exactly where needed rather than stored.
/// </summary>
public sealed class InputGroup
{
    internal InputGroup(string name, IReadOnlyList<LinearLayer> layers, NamedTensor? norm = null)
    {
        Name = name;
        Layers = layers;
        Norm = norm;
        Features = layers[0].InFeatures;
        if (layers.Any(l => l.InFeatures != Features))
            throw new ArgumentException($"{name}: layers sharing an input must have the same input width.");
        Inputs = [];
    }

    /// <summary>E.g. <c>model.layers.3.self_attn.qkv_input</c>.</summary>
    public string Name { get; }
    public IReadOnlyList<LinearLayer> Layers { get; }

    /// <summary>The RMSNorm whose output is this input, if any: a per-channel input scale can be folded into its weight.</summary>
    public NamedTensor? Norm { get; }
    public int Features { get; }
    public int Tokens { get; internal set; }
    public float[] Inputs { get; internal set; }

    /// <summary>
    /// The input groups of a LLaMA model in execution order: per decoder layer [q, k, v], [o], [gate, up], [down];
    /// then [lm_head] when <paramref name="includeLmHead"/>.
    /// </summary>
    public static IReadOnlyList<InputGroup> ForModel(LlamaModel model, bool includeLmHead)
    {
        ArgumentNullException.ThrowIfNull(model);
        var groups = new List<InputGroup>();
        foreach (var layer in model.Layers)
        {
            string prefix = $"model.layers.{layer.Index}";
            groups.Add(new($"{prefix}.self_attn.qkv_input", [layer.QProj, layer.KProj, layer.VProj], layer.InputNorm));
            groups.Add(new($"{prefix}.self_attn.o_proj_input", [layer.OProj]));
            groups.Add(new($"{prefix}.mlp.gate_up_input", [layer.GateProj, layer.UpProj], layer.PostAttentionNorm));
            groups.Add(new($"{prefix}.mlp.down_proj_input", [layer.DownProj]));
        }
        if (includeLmHead) groups.Add(new("lm_head_input", [model.LmHead], model.FinalNorm));
        return groups;
    }

    public override string ToString() => $"{Name} [{Tokens} × {Features}] → {string.Join(", ", Layers.Select(l => l.Name))}";
}
