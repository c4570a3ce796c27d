using BenchmarkDotNet.Attributes;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Benchmarks;

/// <summary>
/// Both GEMM backends on the products of the default model's training step with 2048 tokens:
/// NT = X·Wᵀ (forward), NN = dY·W (input gradient), TN = dYᵀ·X (weight gradient).
/// </summary>
[Config(typeof(Config))]
public class GemmBenchmarks
{
    private sealed class Config : ShortInProcessConfig
    {
        public Config() => AddColumn(new ThroughputColumn("GFLOP/s", Flops, 1e9));

        private static double Flops(BenchmarkDotNet.Running.BenchmarkCase benchmarkCase)
        {
            var (m, n, k) = Parse((string)ThroughputColumn.Parameter(benchmarkCase, nameof(Shape))!);
            return 2.0 * m * n * k;
        }
    }

    [Params("openblas", "managed")] public string Backend { get; set; } = "";
    [Params("2048x256x256", "2048x768x256", "2048x4096x256")] public string Shape { get; set; } = "";
    [Params("NT", "NN", "TN")] public string Transpose { get; set; } = "";

    private IGemmBackend _gemm = null!;
    private float[] _a = [], _b = [], _c = [];
    private int _m, _n, _k;

    private static (int M, int N, int K) Parse(string shape)
    {
        int[] dims = shape.Split('x').Select(int.Parse).ToArray();
        return (dims[0], dims[1], dims[2]);
    }

    [GlobalSetup]
    public void Setup()
    {
        _gemm = ShortInProcessConfig.Backend(Backend);
        (_m, _n, _k) = Parse(Shape);
        var random = new Random(0);
        _a = Enumerable.Range(0, _m * _k).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        _b = Enumerable.Range(0, _k * _n).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        _c = new float[_m * _n];
    }

    [Benchmark]
    public void MatMul() => _gemm.MatMul(_a, _b, _c, _m, _n, _k, Transpose[0] == 'T', Transpose[1] == 'T', 1, 0);
}
