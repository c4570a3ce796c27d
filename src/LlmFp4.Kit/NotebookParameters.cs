using System.Globalization;

namespace LlmFp4.Kit;

/// <summary>
/// Parameters a notebook reads, e.g. <c>bool quick = NotebookParameters.Get("quick", false);</c>.
/// The headless runner (<c>llmfp4 notebooks run --quick --param name=value</c>) sets them for the duration of a
/// run; anywhere else (Polyglot Notebooks, a plain program) every parameter has its default, so the same notebook
/// compiles and runs unchanged in both.
/// </summary>
public static class NotebookParameters
{
    private static IReadOnlyDictionary<string, string> current = new Dictionary<string, string>();

    /// <summary>The raw name → value pairs of the current run (empty outside the runner).</summary>
    public static IReadOnlyDictionary<string, string> Current => current;

    /// <summary>The "quick" parameter: CI-sized work instead of the full experiment.</summary>
    public static bool Quick => Get("quick", false);

    /// <summary>
    /// The parameter parsed as <typeparamref name="T"/> (bool, int, long, float, double, string or an enum; invariant
    /// culture), or <paramref name="defaultValue"/> when it was not given.
    /// </summary>
    public static T Get<T>(string name, T defaultValue)
    {
        if (!current.TryGetValue(name, out string? text))
            return defaultValue;
        var type = typeof(T);
        try
        {
            object value = type == typeof(string) ? text
                : type.IsEnum ? Enum.Parse(type, text, ignoreCase: true)
                : type == typeof(bool) ? bool.Parse(text)
                : Convert.ChangeType(text, type, CultureInfo.InvariantCulture);
            return (T)value;
        }
        catch (Exception ex) when (ex is FormatException or InvalidCastException or ArgumentException or OverflowException)
        {
            throw new ArgumentException($"Notebook parameter '{name}' = '{text}' is not a valid {type.Name}.", name, ex);
        }
    }

    /// <summary>Makes <paramref name="parameters"/> current until the returned scope is disposed (used by the runner).</summary>
    public static IDisposable Use(IReadOnlyDictionary<string, string> parameters)
    {
        var previous = current;
        current = new Dictionary<string, string>(parameters, StringComparer.OrdinalIgnoreCase);
        return new Scope(() => current = previous);
    }

    private sealed class Scope(Action restore) : IDisposable
    {
        public void Dispose() => restore();
    }
}
