using System.Globalization;

namespace LlmFp4.Kit.Notebooks;

/// <summary>
/// Parameters a notebook reads from the environment, e.g. <c>bool quick = NotebookParameters.Quick;</c> reads
/// <c>LLMFP4_QUICK</c>. Environment variables reach every kernel the same way (Jupyter, Polyglot Notebooks, a
/// file-based app, <c>llmfp4 notebooks run</c>), so one notebook runs unchanged in all of them; a parameter that is
/// not set takes the default the notebook gives.
/// </summary>
public static class NotebookParameters
{
    /// <summary>Every parameter <c>name</c> is the environment variable <c>LLMFP4_NAME</c>.</summary>
    public const string Prefix = "LLMFP4_";

    /// <summary><c>LLMFP4_QUICK</c>: CI-sized work instead of the full experiment (default false).</summary>
    public static bool Quick => Get("quick", false);

    /// <summary>The environment variable behind parameter <paramref name="name"/>: "quick" → <c>LLMFP4_QUICK</c>.</summary>
    public static string VariableName(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return Prefix + name.Trim().ToUpperInvariant().Replace('-', '_');
    }

    /// <summary>
    /// The parameter parsed as <typeparamref name="T"/> (bool, int, long, float, double, string or an enum; invariant
    /// culture; a bool also accepts 1/0 and yes/no), or <paramref name="defaultValue"/> when its variable is not set.
    /// A string parameter set to the empty string is the empty string, not the default.
    /// </summary>
    /// <exception cref="ArgumentException">The variable is set but its value does not parse as <typeparamref name="T"/>.</exception>
    public static T Get<T>(string name, T defaultValue) => Get(name, defaultValue, Environment.GetEnvironmentVariable);

    internal static T Get<T>(string name, T defaultValue, Func<string, string?> environment)
    {
        string variable = VariableName(name);
        if (environment(variable) is not { } text)
            return defaultValue;
        var type = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
        if (type != typeof(string) && string.IsNullOrWhiteSpace(text))
            return defaultValue;
        try
        {
            object value = type == typeof(string) ? text
                : type.IsEnum ? Enum.Parse(type, text.Trim(), ignoreCase: true)
                : type == typeof(bool) ? ParseBool(text.Trim())
                : Convert.ChangeType(text.Trim(), type, CultureInfo.InvariantCulture);
            return (T)value;
        }
        catch (Exception ex) when (ex is FormatException or InvalidCastException or ArgumentException or OverflowException)
        {
            throw new ArgumentException($"{variable}='{text}' is not a valid {type.Name} (notebook parameter '{name}').", name, ex);
        }
    }

    private static bool ParseBool(string text) => text.ToLowerInvariant() switch
    {
        "1" or "true" or "yes" or "on" => true,
        "0" or "false" or "no" or "off" => false,
        _ => throw new FormatException($"'{text}' is not one of 1/0, true/false, yes/no, on/off."),
    };
}
