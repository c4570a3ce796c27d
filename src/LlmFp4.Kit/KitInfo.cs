using System.Reflection;

namespace LlmFp4.Kit;

/// <summary>Version of the kit, as stamped into results and saved calibrations.</summary>
public static class KitInfo
{
    /// <summary>The assembly version, major.minor.patch (e.g. "0.1.0").</summary>
    public static string Version { get; } =
        typeof(KitInfo).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    /// <summary>
    /// The git commit the kit was built from: the SDK appends it to the informational version (<c>0.1.0+&lt;sha&gt;</c>)
    /// when it builds inside a git checkout; null otherwise.
    /// </summary>
    public static string? Commit { get; } =
        typeof(KitInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion is { } informational
        && informational.IndexOf('+') is var plus and >= 0 && plus + 1 < informational.Length
            ? informational[(plus + 1)..]
            : null;
}
