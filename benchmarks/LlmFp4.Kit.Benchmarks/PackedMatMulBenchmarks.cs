using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Benchmarks;

/// <summary>
/// A linear layer y = x·Wᵀ on the default model's shapes (out × in: 256 × 768 is down_proj, 768 × 256 gate/up_proj),
/// which stay in cache, and on LLaMA-7B's 4096 × 4096 projections, whose float32 weight (64 MiB) must stream from memory,
/// with the weight in float32 (the active GEMM backend), FP6 E3M2 4+2 packed, or INT4 packed in groups of 128, for
/// 1 token (decoding) and 64 tokens. Columns: resident weight bytes and GFLOP/s (2·tokens·out·in per call).
/// </summary>
[Config(typeof(Config))]
public class PackedMatMulBenchmarks
{
    private sealed class Config : ShortInProcessConfig
    {
        public Config()
        {
            AddColumn(new ThroughputColumn("GFLOP/s", Flops, 1e9));
            AddColumn(new WeightBytesColumn());
        }

        private static double Flops(BenchmarkCase benchmarkCase)
        {
            var (rows, cols) = Parse((string)ThroughputColumn.Parameter(benchmarkCase, nameof(Shape))!);
            return 2.0 * (int)ThroughputColumn.Parameter(benchmarkCase, nameof(Tokens))! * rows * cols;
        }
    }

    /// <summary>Bytes the weight keeps resident in each storage.</summary>
    private sealed class WeightBytesColumn : IColumn
    {
        public string Id => nameof(WeightBytesColumn);
        public string ColumnName => "Weight bytes";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 1;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "Resident bytes of the weight (codes, scales, zero points)";
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public bool IsAvailable(Summary summary) => true;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var (rows, cols) = Parse((string)ThroughputColumn.Parameter(benchmarkCase, nameof(Shape))!);
            var storage = (string)ThroughputColumn.Parameter(benchmarkCase, nameof(Storage))!;
            return Create(storage, new float[rows * cols], rows, cols).Bytes.ToString("N0");
        }
    }

    [Params("256x768", "768x256", "4096x4096")] public string Shape { get; set; } = "";
    [Params(1, 64)] public int Tokens { get; set; }
    [Params("fp32", "fp6", "int4")] public string Storage { get; set; } = "";

    private LinearLayerInput _layer = null!;
    private float[] _x = [], _y = [];

    private sealed record LinearLayerInput(float[] Weight, IPackedMatrix? Packed, int Rows, int Cols)
    {
        public long Bytes => Packed?.ResidentBytes ?? 4L * Weight.Length;
    }

    private static (int Rows, int Cols) Parse(string shape)
    {
        int[] dims = shape.Split('x').Select(int.Parse).ToArray();
        return (dims[0], dims[1]);
    }

    private static LinearLayerInput Create(string storage, float[] weight, int rows, int cols) => storage switch
    {
        "fp32" => new(weight, null, rows, cols),
        "fp6" => new(weight, PackedFp6Matrix.Quantize(weight, rows, cols), rows, cols),
        "int4" => new(weight, PackedInt4Matrix.Quantize(weight, rows, cols, groupSize: 128), rows, cols),
        _ => throw new ArgumentException($"Unknown storage '{storage}'."),
    };

    [GlobalSetup]
    public void Setup()
    {
        var (rows, cols) = Parse(Shape);
        var random = new Random(0);
        var weight = Enumerable.Range(0, rows * cols).Select(_ => (float)(random.NextDouble() - 0.5) * 0.1f).ToArray();
        _layer = Create(Storage, weight, rows, cols);
        _x = Enumerable.Range(0, Tokens * cols).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        _y = new float[Tokens * rows];
    }

    [Benchmark]
    public void MatMul()
    {
        if (_layer.Packed is { } packed) PackedMatMul.MatMul(packed, _x, _y, Tokens);
        else Gemm.MatMul(_x, _layer.Weight, _y, Tokens, _layer.Rows, _layer.Cols, transposeB: true);
    }
}
