using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Benchmarks;

/// <summary>
/// Both GEMM backends on the products the default model's shape needs: the forward's tall-skinny X·Wᵀ for 2048 tokens
/// (q/k/v/o, gate/up, down, lm_head), decoding's one-token matrix-vector products, and calibration's Gram matrices XᵀX over
/// 4096 tokens. Shapes read "op m×n×k" with op NT = A·Bᵀ, TN = Aᵀ·B. "% of peak" divides GFLOP/s by the fp32 FMA peak
/// measured in the same process (a register-only FMA loop: one core's best rate times the cores; it is printed with the
/// first row). A matrix-vector product reads each weight once for one FMA, so no kernel comes near that peak; for the
/// managed kernel's 1-row shapes "% of read bandwidth" divides the bytes it must move (B once, x, c read and written) per
/// second by the rate at which the same threads read a warm buffer of B's size (<see cref="MeasuredReadBandwidth"/>), its
/// roofline.
/// </summary>
[Config(typeof(Config))]
public class GemmBenchmarks
{
    private sealed class Config : ShortInProcessConfig
    {
        public Config()
        {
            AddColumn(new ThroughputColumn("GFLOP/s", Flops, 1e9));
            AddColumn(new ThroughputColumn("% of peak", Flops, MeasuredPeak.Value * 1e7));
            AddColumn(new ThroughputColumn("% of read bandwidth", ShareOfReadBandwidth, 1));
        }

        /// <summary>Bytes moved per operation as a percentage of what one second of reading moves; NaN unless managed and m = 1.</summary>
        private static double ShareOfReadBandwidth(BenchmarkDotNet.Running.BenchmarkCase benchmarkCase)
        {
            var (_, m, n, k) = Parse((string)ThroughputColumn.Parameter(benchmarkCase, nameof(Shape))!);
            if (m != 1 || (string)ThroughputColumn.Parameter(benchmarkCase, nameof(Backend))! != "managed") return double.NaN;
            long matrixBytes = (long)n * k * sizeof(float);
            double bytes = matrixBytes + (k + 2.0 * n) * sizeof(float);
            return 100 * bytes / MeasuredReadBandwidth(matrixBytes, new ManagedGemm().MatrixVectorThreads(n, k));
        }

        private static double Flops(BenchmarkDotNet.Running.BenchmarkCase benchmarkCase)
        {
            var (_, m, n, k) = Parse((string)ThroughputColumn.Parameter(benchmarkCase, nameof(Shape))!);
            return 2.0 * m * n * k;
        }
    }

    [Params("managed", "openblas")] public string Backend { get; set; } = "";

    [Params("NT 2048x256x256", "NT 2048x768x256", "NT 2048x256x768", "NT 2048x4096x256",
        "NT 1x256x256", "NT 1x768x256", "NT 1x256x768", "NT 1x4096x256", "TN 256x256x4096", "TN 768x768x4096")]
    public string Shape { get; set; } = "";

    private IGemmBackend _gemm = null!;
    private float[] _a = [], _b = [], _c = [];
    private string _op = "";
    private int _m, _n, _k;

    /// <summary>GFLOP/s of fused multiply-adds on 12 independent Vector512 (or Vector256) registers: one core's best, times the cores.</summary>
    internal static readonly Lazy<double> MeasuredPeak = new(() =>
    {
        const long iterations = 20_000_000;
        int lanes = Vector512.IsHardwareAccelerated ? 16 : 8;
        FmaLoop(1000);
        // Cores × the best of ten single-core runs, an upper bound (all cores at once may run at a lower clock), so "% of
        // peak" errs low. Timing all cores under one clock read 198–324 GFLOP/s on this shared machine (a worker that
        // starts late or is preempted counts as idle) and their own clocks 357, while one core alone gives 206–219 and
        // the GEMM reaches 370.
        double bestCore = 0;
        for (int attempt = 0; attempt < 10; attempt++)
        {
            var clock = Stopwatch.StartNew();
            FmaLoop(iterations);
            bestCore = Math.Max(bestCore, iterations * 12.0 * lanes * 2 / clock.Elapsed.TotalSeconds / 1e9);
        }
        double best = Environment.ProcessorCount * bestCore;
        Console.WriteLine($"// measured fp32 FMA peak: {best:F0} GFLOP/s on {Environment.ProcessorCount} cores");
        return best;
    });

    private static readonly ConcurrentDictionary<(long Bytes, int Threads), double> ReadBandwidths = new();

    /// <summary>
    /// Bytes per second at which <paramref name="threads"/> threads read (<see cref="ReadLoop"/>) a buffer of
    /// <paramref name="bytes"/> bytes split between them, kept warm in the cache as the benchmark's B is: the best of ten
    /// timings of repeated passes (about 64 MB read per timing). Printed the first time each size is measured.
    /// </summary>
    internal static double MeasuredReadBandwidth(long bytes, int threads) => ReadBandwidths.GetOrAdd((bytes, threads), key =>
    {
        int floats = (int)(key.Bytes / sizeof(float) / key.Threads);
        var buffers = Enumerable.Range(0, key.Threads).Select(t => Enumerable.Repeat(1f + t, floats).ToArray()).ToArray();
        int passes = (int)Math.Max(1, (64L << 20) / key.Bytes);
        double best = 0;
        for (int attempt = 0; attempt < 11; attempt++)
        {
            var sums = new double[key.Threads];
            var clock = Stopwatch.StartNew();
            Parallel.For(0, key.Threads, new ParallelOptions { MaxDegreeOfParallelism = key.Threads }, t =>
            {
                for (int pass = 0; pass < passes; pass++) sums[t] += ReadLoop(buffers[t]);
            });
            double seconds = clock.Elapsed.TotalSeconds;
            if (attempt > 0) best = Math.Max(best, (double)floats * sizeof(float) * key.Threads * passes / seconds);
        }
        Console.WriteLine($"// measured read bandwidth: {best / 1e9:F0} GB/s over a warm {key.Bytes / 1024} KB buffer on {key.Threads} thread(s)");
        return best;
    });

    /// <summary>
    /// Sums <paramref name="buffer"/> with eight independent Vector256 chains, so that its reads bound the time (two 32-byte
    /// loads a cycle match L2's 64 bytes a cycle; every x86-64 machine the kit runs on has AVX2).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float ReadLoop(float[] buffer)
    {
        ref float x = ref buffer[0];
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
        int i = 0;
        for (; i <= buffer.Length - 64; i += 64)
        {
            s0 += Vector256.LoadUnsafe(ref x, (nuint)i); s1 += Vector256.LoadUnsafe(ref x, (nuint)(i + 8));
            s2 += Vector256.LoadUnsafe(ref x, (nuint)(i + 16)); s3 += Vector256.LoadUnsafe(ref x, (nuint)(i + 24));
            s4 += Vector256.LoadUnsafe(ref x, (nuint)(i + 32)); s5 += Vector256.LoadUnsafe(ref x, (nuint)(i + 40));
            s6 += Vector256.LoadUnsafe(ref x, (nuint)(i + 48)); s7 += Vector256.LoadUnsafe(ref x, (nuint)(i + 56));
        }
        float sum = Vector256.Sum(s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7);
        for (; i < buffer.Length; i++) sum += buffer[i];
        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float FmaLoop(long iterations)
    {
        if (!Vector512.IsHardwareAccelerated) return FmaLoop256(iterations);
        var a = Vector512.Create(1f);
        var b = Vector512.Create(0.999f);
        Vector512<float> c0 = a, c1 = a, c2 = a, c3 = a, c4 = a, c5 = a, c6 = a, c7 = a, c8 = a, c9 = a, c10 = a, c11 = a;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Vector512.FusedMultiplyAdd(c0, b, a); c1 = Vector512.FusedMultiplyAdd(c1, b, a); c2 = Vector512.FusedMultiplyAdd(c2, b, a);
            c3 = Vector512.FusedMultiplyAdd(c3, b, a); c4 = Vector512.FusedMultiplyAdd(c4, b, a); c5 = Vector512.FusedMultiplyAdd(c5, b, a);
            c6 = Vector512.FusedMultiplyAdd(c6, b, a); c7 = Vector512.FusedMultiplyAdd(c7, b, a); c8 = Vector512.FusedMultiplyAdd(c8, b, a);
            c9 = Vector512.FusedMultiplyAdd(c9, b, a); c10 = Vector512.FusedMultiplyAdd(c10, b, a); c11 = Vector512.FusedMultiplyAdd(c11, b, a);
        }
        return (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11).ToScalar();
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float FmaLoop256(long iterations)
    {
        var a = Vector256.Create(1f);
        var b = Vector256.Create(0.999f);
        Vector256<float> c0 = a, c1 = a, c2 = a, c3 = a, c4 = a, c5 = a, c6 = a, c7 = a, c8 = a, c9 = a, c10 = a, c11 = a;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Vector256.FusedMultiplyAdd(c0, b, a); c1 = Vector256.FusedMultiplyAdd(c1, b, a); c2 = Vector256.FusedMultiplyAdd(c2, b, a);
            c3 = Vector256.FusedMultiplyAdd(c3, b, a); c4 = Vector256.FusedMultiplyAdd(c4, b, a); c5 = Vector256.FusedMultiplyAdd(c5, b, a);
            c6 = Vector256.FusedMultiplyAdd(c6, b, a); c7 = Vector256.FusedMultiplyAdd(c7, b, a); c8 = Vector256.FusedMultiplyAdd(c8, b, a);
            c9 = Vector256.FusedMultiplyAdd(c9, b, a); c10 = Vector256.FusedMultiplyAdd(c10, b, a); c11 = Vector256.FusedMultiplyAdd(c11, b, a);
        }
        return (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11).ToScalar();
    }

    private static (string Op, int M, int N, int K) Parse(string shape)
    {
        string[] parts = shape.Split(' ');
        int[] dims = parts[1].Split('x').Select(int.Parse).ToArray();
        return (parts[0], dims[0], dims[1], dims[2]);
    }

    [GlobalSetup]
    public void Setup()
    {
        _ = MeasuredPeak.Value;
        _gemm = ShortInProcessConfig.Backend(Backend);
        (_op, _m, _n, _k) = Parse(Shape);
        var random = new Random(0);
        _a = Enumerable.Range(0, _m * _k).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        _b = Enumerable.Range(0, _k * _n).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        _c = new float[_m * _n];
    }

    [Benchmark]
    public void MatMul() => _gemm.MatMul(_a, _b, _c, _m, _n, _k, _op[0] == 'T', _op[1] == 'T', 1, 0);
}
