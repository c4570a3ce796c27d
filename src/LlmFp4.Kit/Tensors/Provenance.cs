namespace LlmFp4.Kit.Tensors;

/// <summary>
/// What produced a result, stamped into calibration results, evaluation results and reproduce rows: the kit's version
/// and the git commit it was built from (null when built outside a git checkout), and the GEMM backend with the version
/// that fixes its bytes (it lives with the GEMM backends, which decide a result's last bits) (<see cref="IGemmBackend.Version"/>). Two results with equal provenance, config, seed and model
/// are the same bytes.
/// </summary>
/// <param name="KitVersion">e.g. <c>0.1.0</c>.</param>
/// <param name="Commit">Full commit hash of the kit's source, from the assembly's informational version.</param>
/// <param name="GemmBackend">The backend's description (<see cref="IGemmBackend.Name"/>).</param>
/// <param name="GemmVersion">What determines the backend's results (<see cref="IGemmBackend.Version"/>).</param>
public sealed record Provenance(string KitVersion, string? Commit, string GemmBackend, string GemmVersion)
{
    /// <summary>This process: the kit as built, and the GEMM backend in use now.</summary>
    public static Provenance Current => new(KitInfo.Version, KitInfo.Commit, Gemm.Backend.Name, Gemm.Backend.Version);

    /// <summary>One line for tables and logs, e.g. <c>kit 0.1.0 (a1b2c3d4e5f6), GEMM managed … [summation order 1]</c>.</summary>
    public override string ToString() =>
        $"kit {KitVersion}{(Commit is null ? "" : $" ({Commit[..Math.Min(12, Commit.Length)]})")}, GEMM {GemmBackend} [{GemmVersion}]";
}
