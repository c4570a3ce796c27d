namespace LlmFp4.Kit.Tensors;

/// <summary>
/// Entry point for matrix products. The default is the managed kernel (<see cref="ManagedGemm"/>): its summation order
/// is fixed, so a result is the same bytes on any x86-64 machine (AVX-512, AVX2) and thread count, and on the shapes
/// the models use it measured faster than OpenBLAS (<c>benchmarks … --filter '*Gemm*'</c>). The environment variable
/// <c>LLMFP4_GEMM=managed|openblas</c> chooses one; OpenBLAS results depend on its version and kernel core.
/// </summary>
public static class Gemm
{
    /// <summary>Name of the environment variable that chooses the backend: "managed" or "openblas".</summary>
    public const string EnvironmentVariable = "LLMFP4_GEMM";

    private static IGemmBackend? _backend;

    /// <summary>The backend every <see cref="MatMul"/> uses; see <see cref="IGemmBackend.Name"/> to report it.</summary>
    public static IGemmBackend Backend => _backend ??= SelectDefault();

    /// <summary>Why <see cref="Backend"/> is the one in use (OpenBLAS missing, forced by the environment, …).</summary>
    public static string BackendReason
    {
        get
        {
            _ = Backend;
            return _reason;
        }
    }

    private static string _reason = "";

    /// <summary>Replaces the active backend (tests and benchmarks compare backends with this).</summary>
    public static void UseBackend(IGemmBackend backend)
    {
        ArgumentNullException.ThrowIfNull(backend);
        _backend = backend;
        _reason = "chosen by the program (Gemm.UseBackend)";
    }

    /// <summary>
    /// Row-major <c>C[m×n] = alpha·op(A)·op(B) + beta·C</c>. op(A) is [m×k]; with <paramref name="transposeA"/>
    /// A is stored [k×m]. op(B) is [k×n]; with <paramref name="transposeB"/> B is stored [n×k] (so a Linear
    /// layer <c>Y = X·Wᵀ</c> with W [out×in] is <c>MatMul(x, w, y, rows, out, in, transposeB: true)</c>).
    /// With beta = 0 the old contents of C are ignored. Accumulation is in float32 with fused multiply-add;
    /// the summation order is the backend's (<see cref="IGemmBackend.Version"/>; the default's is in <see cref="ManagedGemm"/>).
    /// </summary>
    public static void MatMul(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k,
        bool transposeA = false, bool transposeB = false, float alpha = 1, float beta = 0)
    {
        if (m < 0 || n < 0 || k < 0)
            throw new ArgumentException($"MatMul: dimensions must be non-negative, got m={m}, n={n}, k={k}.");
        if (a.Length < (long)m * k)
            throw new ArgumentException($"MatMul: A has {a.Length} elements, needs {(long)m * k} for {(transposeA ? $"[{k}×{m}]" : $"[{m}×{k}]")}.");
        if (b.Length < (long)k * n)
            throw new ArgumentException($"MatMul: B has {b.Length} elements, needs {(long)k * n} for {(transposeB ? $"[{n}×{k}]" : $"[{k}×{n}]")}.");
        if (c.Length < (long)m * n)
            throw new ArgumentException($"MatMul: C has {c.Length} elements, needs {(long)m * n} for [{m}×{n}].");
        if (m == 0 || n == 0) return;
        Backend.MatMul(a[..(m * k)], b[..(k * n)], c[..(m * n)], m, n, k, transposeA, transposeB, alpha, beta);
    }

    private static IGemmBackend SelectDefault()
    {
        string? forced = Environment.GetEnvironmentVariable(EnvironmentVariable)?.Trim().ToLowerInvariant();
        switch (forced)
        {
            case null or "":
                _reason = $"default: deterministic on every x86-64 machine and thread count, and faster than OpenBLAS in the GEMM benchmark ({EnvironmentVariable}=openblas to use OpenBLAS)";
                return new ManagedGemm();
            case "managed":
                _reason = $"{EnvironmentVariable}=managed";
                return new ManagedGemm();
            case "openblas":
                _reason = $"{EnvironmentVariable}=openblas";
                return OpenBlasGemm.TryLoad() ?? throw new InvalidOperationException(
                    $"{EnvironmentVariable}=openblas but no OpenBLAS library could be loaded (tried {string.Join(", ", OpenBlasGemm.LibraryNames)}); install libopenblas0-pthread.");
            default:
                throw new InvalidOperationException($"{EnvironmentVariable}='{forced}' is not a GEMM backend (use 'managed' or 'openblas').");
        }
    }
}
