using System.Reflection;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace LlmFp4.Kit.Quantization;

/// <summary>
/// A calibration method's name in configs, presets and results, on its <see cref="MethodSettings"/> record (the JSON
/// <c>type</c> of <c>method</c>) and on its per-layer result record (the JSON <c>method</c> of a layer's <c>details</c>).
/// The attribute is the registration: <see cref="MethodRegistry"/> finds every marked type of the loaded assemblies, so a
/// method's folder needs no line anywhere else (docs/methods.md, "The method interface").
/// </summary>
/// <param name="name">The method's name, e.g. <c>fpq</c>; unique among the records of one base type.</param>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class MethodNameAttribute(string name) : Attribute
{
    /// <summary>The method's name, e.g. <c>fpq</c>.</summary>
    public string Name { get; } = name;
}

/// <summary>
/// The methods of every assembly loaded when it is first used (the kit and each loaded assembly that references it):
/// the names given by <see cref="MethodNameAttribute"/>, and the JSON modifier that makes each marked record a derived
/// type of its <see cref="JsonPolymorphicAttribute"/> base. A method in an assembly loaded after the first config was
/// read or written is not seen.
/// </summary>
internal static class MethodRegistry
{
    private static readonly Lazy<IReadOnlyList<Type>> LoadedTypes = new(FindLoadedTypes);
    private static readonly Lazy<IReadOnlyDictionary<Type, string>> NamesByType = new(FindNames);

    /// <summary>Every type of the kit and of the loaded assemblies that reference it.</summary>
    public static IReadOnlyList<Type> Types => LoadedTypes.Value;

    /// <summary>Each <see cref="MethodNameAttribute"/>-marked type with its name.</summary>
    public static IReadOnlyDictionary<Type, string> Names => NamesByType.Value;

    /// <summary>The name of <paramref name="type"/>; <see cref="InvalidOperationException"/> naming it when it has none.</summary>
    public static string NameOf(Type type) => Names.TryGetValue(type, out var name) ? name
        : throw new InvalidOperationException($"{type.FullName} has no [MethodName] attribute, so it has no name in configs and results.");

    /// <summary>
    /// A <see cref="DefaultJsonTypeInfoResolver"/> modifier: a type that declares <see cref="JsonPolymorphicAttribute"/>
    /// gets every marked type deriving from it as a derived type, discriminated by its name (ordinal order, so the
    /// serialiser's view does not depend on load order).
    /// </summary>
    public static void AddDerivedTypes(JsonTypeInfo info)
    {
        if (info.Kind != JsonTypeInfoKind.Object || info.Type.GetCustomAttribute<JsonPolymorphicAttribute>(inherit: false) is null) return;
        var derived = Names.Where(p => p.Key != info.Type && info.Type.IsAssignableFrom(p.Key)).OrderBy(p => p.Value, StringComparer.Ordinal).ToList();
        if (derived.Count == 0) return;
        var options = info.PolymorphismOptions ??= new JsonPolymorphismOptions();
        foreach (var (type, name) in derived)
            if (!options.DerivedTypes.Any(d => d.DerivedType == type))
                options.DerivedTypes.Add(new JsonDerivedType(type, name));
    }

    private static IReadOnlyList<Type> FindLoadedTypes()
    {
        var kit = typeof(MethodRegistry).Assembly;
        string kitName = kit.GetName().Name!;
        var assemblies = AppDomain.CurrentDomain.GetAssemblies()
            .Where(a => a == kit || (!a.IsDynamic && a.GetReferencedAssemblies().Any(r => r.Name == kitName)))
            .OrderBy(a => a == kit ? "" : a.FullName, StringComparer.Ordinal);
        var types = new List<Type>();
        foreach (var assembly in assemblies)
        {
            try { types.AddRange(assembly.GetTypes()); }
            catch (ReflectionTypeLoadException ex) { types.AddRange(ex.Types.OfType<Type>()); }
        }
        return types;
    }

    private static IReadOnlyDictionary<Type, string> FindNames()
    {
        var names = new Dictionary<Type, string>();
        foreach (var type in Types)
            if (type.GetCustomAttribute<MethodNameAttribute>() is { } attribute)
                names[type] = attribute.Name;
        // Two records under one polymorphic base with the same name would make a saved file ambiguous.
        foreach (var group in names.GroupBy(p => (Base: PolymorphicBase(p.Key), p.Value)).Where(g => g.Key.Base is not null && g.Count() > 1))
            throw new InvalidOperationException(
                $"Method name '{group.Key.Value}' is given to {string.Join(" and ", group.Select(p => p.Key.FullName))}; names must be unique.");
        return names;
    }

    private static Type? PolymorphicBase(Type type)
    {
        for (var t = type.BaseType; t is not null; t = t.BaseType)
            if (t.GetCustomAttribute<JsonPolymorphicAttribute>(inherit: false) is not null) return t;
        return null;
    }
}
