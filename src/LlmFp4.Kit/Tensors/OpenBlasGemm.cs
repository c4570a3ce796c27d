using System.Runtime.InteropServices;

namespace LlmFp4.Kit.Tensors;

/// <summary>
/// GEMM through OpenBLAS <c>cblas_sgemm</c>, loaded at run time so the kit still runs (on the managed
/// kernel) where OpenBLAS is not installed. OpenBLAS splits work over m and n, never over k, so results
/// are deterministic for a fixed thread count.
/// </summary>
public sealed unsafe class OpenBlasGemm : IGemmBackend
{
    /// <summary>File names tried, in order.</summary>
    public static readonly string[] LibraryNames = ["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib", "libopenblas.dll", "openblas"];

    private const int CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112;

    private readonly delegate* unmanaged[Cdecl]<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> _sgemm;

    /// <inheritdoc/>
    public string Name { get; }

    /// <summary>Library version and the kernel core it runs, e.g. "OpenBLAS 0.3.21 SkylakeX".</summary>
    public string Version { get; }

    private OpenBlasGemm(nint sgemm, string name, string version)
    {
        _sgemm = (delegate* unmanaged[Cdecl]<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm;
        Name = name;
        Version = version;
    }

    /// <summary>Loads OpenBLAS, or returns null when no library with <c>cblas_sgemm</c> is found.</summary>
    public static OpenBlasGemm? TryLoad()
    {
        PinCoreTypeForVirtualCpus();
        foreach (string library in LibraryNames)
        {
            if (!NativeLibrary.TryLoad(library, out nint handle)) continue;
            if (NativeLibrary.TryGetExport(handle, "cblas_sgemm", out nint sgemm))
            {
                var (name, version) = Describe(handle, library);
                return new OpenBlasGemm(sgemm, name, version);
            }
            NativeLibrary.Free(handle);
        }
        return null;
    }

    /// <inheritdoc/>
    public void MatMul(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k,
        bool transposeA, bool transposeB, float alpha, float beta)
    {
        if (k == 0)
        {
            // Reference BLAS returns early for k = 0 only when beta = 1; make the empty sum explicit.
            ManagedGemm.ScaleC(c, beta);
            return;
        }
        fixed (float* pa = a, pb = b, pc = c)
        {
            _sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, pa, transposeA ? m : k, pb, transposeB ? k : n, beta, pc, n);
        }
    }

    /// <summary>
    /// OpenBLAS 0.3.21 (Debian 12) identifies cores by CPU model number; on virtual CPUs that report a generic
    /// model ("Intel Xeon Processor") it falls back to the SSE3 "Prescott" kernels, measured here at 18–36
    /// GFLOP/s instead of 105–125 with "SkylakeX". Unless the user chose a core, name the one the instruction
    /// set supports. OpenBLAS reads the variable from the C environment when it loads, hence setenv.
    /// </summary>
    private static void PinCoreTypeForVirtualCpus()
    {
        const string variable = "OPENBLAS_CORETYPE";
        if (!OperatingSystem.IsLinux() || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(variable))) return;
        string? core = System.Runtime.Intrinsics.X86.Avx512F.IsSupported ? "SkylakeX"
            : System.Runtime.Intrinsics.X86.Avx2.IsSupported ? "Haswell" : null;
        if (core is not null) SetNativeEnvironment(variable, core, overwrite: 0);
    }

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetNativeEnvironment([MarshalAs(UnmanagedType.LPUTF8Str)] string name,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);

    private static (string Name, string Version) Describe(nint handle, string library)
    {
        string config = "OpenBLAS";
        if (NativeLibrary.TryGetExport(handle, "openblas_get_config", out nint getConfig))
            config = Marshal.PtrToStringAnsi(((delegate* unmanaged[Cdecl]<nint>)getConfig)()) ?? config;
        // "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64": keep name and version.
        string[] words = config.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string version = words.Length >= 2 ? $"{words[0]} {words[1]}" : config;

        var details = new List<string> { library };
        if (NativeLibrary.TryGetExport(handle, "openblas_get_parallel", out nint getParallel))
            details.Add(((delegate* unmanaged[Cdecl]<int>)getParallel)() switch { 0 => "sequential", 1 => "pthread", 2 => "OpenMP", var p => $"parallel mode {p}" });
        if (NativeLibrary.TryGetExport(handle, "openblas_get_num_threads", out nint getThreads))
            details.Add($"{((delegate* unmanaged[Cdecl]<int>)getThreads)()} threads");
        string core = NativeLibrary.TryGetExport(handle, "openblas_get_corename", out nint getCore)
            ? Marshal.PtrToStringAnsi(((delegate* unmanaged[Cdecl]<nint>)getCore)()) ?? "unknown core"
            : "unknown core";
        details.Add(core);
        return ($"{version} ({string.Join(", ", details)})", $"{version} {core}");
    }
}
