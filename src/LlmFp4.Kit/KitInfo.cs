namespace LlmFp4.Kit;

/// <summary>Version of the kit, as stamped into results and saved calibrations.</summary>
public static class KitInfo
{
    public static string Version { get; } =
        typeof(KitInfo).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
}
