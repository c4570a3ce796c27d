using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Benchmarks;

/// <summary>Work per second from the mean time: GFLOP/s for GEMM, tokens/s for the forward; "-" where the work is NaN (not measured for that case).</summary>
public sealed class ThroughputColumn(string name, Func<BenchmarkCase, double> workPerOperation, double unit) : IColumn
{
    public string Id => $"{nameof(ThroughputColumn)}.{name}";
    public string ColumnName => name;
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => $"{name} from the mean time per operation";
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var statistics = summary[benchmarkCase]?.ResultStatistics;
        if (statistics is null) return "-";
        double seconds = statistics.Mean * 1e-9, work = workPerOperation(benchmarkCase);
        return double.IsNaN(work) ? "-" : (work / seconds / unit).ToString("N1");
    }

    internal static object? Parameter(BenchmarkCase benchmarkCase, string parameter) =>
        benchmarkCase.Parameters.Items.First(item => item.Name == parameter).Value;
}

/// <summary>A short in-process run (no separate build: the machine has two shared cores).</summary>
public class ShortInProcessConfig : ManualConfig
{
    /// <summary>Two warm-up iterations and five measured ones.</summary>
    public ShortInProcessConfig() : this(warmupCount: 2) { }

    /// <param name="warmupCount">
    /// Warm-up iterations: 2 suit the kernels, which are compiled fully optimized on their first call; a whole model's
    /// forward or decode needs more, because .NET compiles the methods around the kernels in tiers over the first dozen or
    /// so calls (with 2, the forward's mean read 184 ms where a harness timing call after call settled at 110–130 ms).
    /// </param>
    protected ShortInProcessConfig(int warmupCount)
    {
        AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1).WithWarmupCount(warmupCount).WithIterationCount(5));
    }

    internal static IGemmBackend Backend(string name) => name switch
    {
        "openblas" => OpenBlasGemm.TryLoad() ?? throw new InvalidOperationException("OpenBLAS is not installed (libopenblas0-pthread)."),
        "managed" => new ManagedGemm(),
        _ => throw new ArgumentException($"Unknown GEMM backend '{name}'."),
    };

    /// <summary>The default model's shape (data/models/pdllama-7m), for benchmarks on random weights of that size.</summary>
    internal static LlamaConfig DefaultModelShape { get; } = new()
    {
        VocabSize = 4096, HiddenSize = 256, IntermediateSize = 768, NumHiddenLayers = 6,
        NumAttentionHeads = 8, MaxPositionEmbeddings = 512, TieWordEmbeddings = false,
    };
}
