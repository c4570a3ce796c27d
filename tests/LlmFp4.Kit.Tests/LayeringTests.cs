using LlmFp4.Kit.Formats;
using Mono.Cecil;
using Mono.Cecil.Cil;
using Xunit.Abstractions;

namespace LlmFp4.Kit.Tests;

/// <summary>
/// The library's folders in reading order are also its dependency order: a type may use types of its own stage and of
/// earlier stages only. Checked on the compiled assembly (signatures, attributes and every IL operand), so a
/// fully qualified name or a lambda cannot slip past it.
/// </summary>
public class LayeringTests(ITestOutputHelper output)
{
    /// <summary>
    /// Formats → Tensors → Quantization → Models → Calibration → Evaluation → Reports → Plotting → Analysis → Experiments
    /// → Notebooks (what notebooks use on top of it all). The root namespace (AtomicFile, KitInfo, progress) comes before
    /// all of them; a sub-namespace
    /// (Models.Loading, Models.Tokenizers) belongs to its folder's stage.
    /// </summary>
    public static readonly string[] Stages =
        ["LlmFp4.Kit", "Formats", "Tensors", "Quantization", "Models", "Calibration", "Evaluation", "Reports", "Plotting", "Analysis", "Experiments", "Notebooks"];

    [Fact]
    public void Each_stage_uses_only_itself_and_earlier_stages()
    {
        var edges = StageEdges();
        output.WriteLine(Matrix(edges));
        Assert.Contains(("Calibration", "Models"), edges.Keys);
        var violations = edges.Where(e => Array.IndexOf(Stages, e.Key.To) > Array.IndexOf(Stages, e.Key.From))
            .Select(e => $"{e.Key.From} → {e.Key.To} ({string.Join(", ", e.Value.Take(4))})").ToList();
        Assert.True(violations.Count == 0, "Edges against the reading order:\n" + string.Join("\n", violations) + "\n\n" + Matrix(edges));
    }

    [Fact]
    public void Every_namespace_of_the_library_has_a_stage()
    {
        var module = ModuleDefinition.ReadModule(typeof(FpFormat).Assembly.Location);
        var unknown = module.Types.Select(t => t.Namespace).Where(n => n.StartsWith("LlmFp4.Kit", StringComparison.Ordinal))
            .Distinct().Where(n => Array.IndexOf(Stages, StageOf(n)) < 0).ToList();
        Assert.True(unknown.Count == 0, $"Namespaces outside the reading order (add them to {nameof(Stages)}): {string.Join(", ", unknown)}");
    }

    /// <summary>The stage of a namespace: the folder under <c>LlmFp4.Kit</c>, or the root.</summary>
    public static string StageOf(string ns)
    {
        var parts = ns.Split('.');
        return parts.Length <= 2 ? ns : parts[2];
    }

    /// <summary>
    /// (from stage, to stage) → the types of <c>from</c> that use <c>to</c>, over every type of the LlmFp4.Kit assembly.
    /// Also the dependency matrix the report prints.
    /// </summary>
    public static Dictionary<(string From, string To), SortedSet<string>> StageEdges()
    {
        var module = ModuleDefinition.ReadModule(typeof(FpFormat).Assembly.Location);
        var edges = new Dictionary<(string, string), SortedSet<string>>();
        foreach (var type in module.Types.Where(t => t.Namespace.StartsWith("LlmFp4.Kit", StringComparison.Ordinal)))
        {
            string from = StageOf(type.Namespace);
            foreach (var used in References(type))
            {
                if (used.Module != module || !used.Namespace.StartsWith("LlmFp4.Kit", StringComparison.Ordinal)) continue;
                string to = StageOf(used.Namespace);
                if (to == from) continue;
                if (!edges.TryGetValue((from, to), out var users)) edges[(from, to)] = users = [];
                users.Add(type.Name);
            }
        }
        return edges;
    }

    /// <summary>Rows use columns: the count of using types per pair of stages.</summary>
    public static string Matrix(Dictionary<(string From, string To), SortedSet<string>> edges)
    {
        var names = Stages.Select(s => s == "LlmFp4.Kit" ? "root" : s).ToArray();
        var lines = new List<string> { "uses →        " + string.Join(" ", names.Select(n => n[..Math.Min(5, n.Length)].PadLeft(5))) };
        for (int i = 0; i < Stages.Length; i++)
            lines.Add(names[i].PadRight(14) + string.Join(" ", Stages.Select(to =>
                (edges.TryGetValue((Stages[i], to), out var users) ? users.Count.ToString() : Stages[i] == to ? "·" : "").PadLeft(5))));
        return string.Join("\n", lines);
    }

    /// <summary>Top-level types (nested ones folded into their outermost type) that <paramref name="type"/> and its nested types mention.</summary>
    private static IEnumerable<TypeDefinition> References(TypeDefinition type)
    {
        var seen = new HashSet<TypeReference>();
        var result = new List<TypeReference>();
        void Add(TypeReference? reference)
        {
            switch (reference)
            {
                case null or GenericParameter: return;
                case GenericInstanceType generic:
                    Add(generic.ElementType);
                    foreach (var argument in generic.GenericArguments) Add(argument);
                    return;
                case TypeSpecification specification:
                    Add(specification.ElementType);
                    return;
            }
            if (seen.Add(reference)) result.Add(reference);
        }
        void AddMethod(MethodReference method)
        {
            Add(method.DeclaringType);
            Add(method.ReturnType);
            foreach (var parameter in method.Parameters) Add(parameter.ParameterType);
            if (method is GenericInstanceMethod generic)
                foreach (var argument in generic.GenericArguments) Add(argument);
        }
        void AddAttributes(ICustomAttributeProvider provider)
        {
            foreach (var attribute in provider.CustomAttributes)
            {
                AddMethod(attribute.Constructor);
                foreach (var argument in attribute.ConstructorArguments)
                    if (argument.Value is TypeReference typeArgument) Add(typeArgument);
            }
        }

        foreach (var t in Nested(type))
        {
            Add(t.BaseType);
            AddAttributes(t);
            foreach (var i in t.Interfaces) Add(i.InterfaceType);
            foreach (var field in t.Fields) { Add(field.FieldType); AddAttributes(field); }
            foreach (var property in t.Properties) { Add(property.PropertyType); AddAttributes(property); }
            foreach (var method in t.Methods)
            {
                AddMethod(method);
                AddAttributes(method);
                if (!method.HasBody) continue;
                foreach (var variable in method.Body.Variables) Add(variable.VariableType);
                foreach (var handler in method.Body.ExceptionHandlers) Add(handler.CatchType);
                foreach (var instruction in method.Body.Instructions)
                {
                    switch (instruction.Operand)
                    {
                        case TypeReference operandType: Add(operandType); break;
                        case MethodReference operandMethod: AddMethod(operandMethod); break;
                        case FieldReference operandField: Add(operandField.DeclaringType); Add(operandField.FieldType); break;
                        case CallSite site: Add(site.ReturnType); break;
                    }
                }
            }
        }
        foreach (var reference in result)
        {
            // Only this module's own types matter; they resolve without looking for other assemblies.
            var definition = reference as TypeDefinition ?? (reference.Scope == type.Module ? reference.Resolve() : null);
            if (definition is null) continue;
            while (definition.DeclaringType is not null) definition = definition.DeclaringType;
            yield return definition;
        }
    }

    private static IEnumerable<TypeDefinition> Nested(TypeDefinition type) => type.NestedTypes.SelectMany(Nested).Prepend(type);
}
