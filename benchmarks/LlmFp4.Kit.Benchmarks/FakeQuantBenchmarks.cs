using BenchmarkDotNet.Attributes;
using LlmFp4.Kit.Formats;

namespace LlmFp4.Kit.Benchmarks;

/// <summary>
/// Fake-quantizing a 4096 × 4096 float32 matrix into a preallocated destination — E2M1 and INT4 with one scale per
/// output row (weights), E2M1 with one scale per column (pre-shifted activations) — against a plain copy of the same
/// 64 MB (the memory-bandwidth ceiling of this memory-bound kernel). Elements per second = 16.8 M / mean time.
/// </summary>
[MemoryDiagnoser]
public class FakeQuantBenchmarks
{
    private const int Rows = 4096;
    private const int Cols = 4096;
    private float[] _weight = [];
    private float[] _destination = [];
    private float[] _rowScales = [];
    private float[] _int4RowScales = [];
    private float[] _columnScales = [];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(0);
        _weight = new float[Rows * Cols];
        for (int i = 0; i < _weight.Length; i++)
            _weight[i] = (float)(random.NextDouble() * 2 - 1) * 0.05f;
        _destination = new float[_weight.Length];
        _rowScales = new float[Rows];
        FakeQuant.AbsMax(_weight, Rows, Cols, Granularity.PerRow, _rowScales);
        for (int r = 0; r < Rows; r++)
            _rowScales[r] /= (float)FpFormat.E2M1.MaxValue;
        _int4RowScales = _rowScales.Select(s => s * (float)FpFormat.E2M1.MaxValue / IntFormat.Int4.QMax).ToArray();
        _columnScales = new float[Cols];
        FakeQuant.AbsMax(_weight, Rows, Cols, Granularity.PerColumn, _columnScales);
        for (int c = 0; c < Cols; c++)
            _columnScales[c] /= (float)FpFormat.E2M1.MaxValue;
        _weight.AsSpan().CopyTo(_destination); // first touch outside the measurement
    }

    [Benchmark(Baseline = true)]
    public void Copy() => _weight.AsSpan().CopyTo(_destination);

    [Benchmark]
    public void E2M1PerOutputChannel() =>
        FakeQuant.QuantizeMatrix(_weight, Rows, Cols, FpFormat.E2M1, Granularity.PerRow, _rowScales, _destination);

    [Benchmark]
    public void Int4PerOutputChannel() =>
        FakeQuant.QuantizeMatrix(_weight, Rows, Cols, IntFormat.Int4, Granularity.PerRow, _int4RowScales, [], _destination);

    [Benchmark]
    public void E2M1PerInputChannel() =>
        FakeQuant.QuantizeMatrix(_weight, Rows, Cols, FpFormat.E2M1, Granularity.PerColumn, _columnScales, _destination);

    [Benchmark]
    public void E2M1PerOutputChannelSingleThread()
    {
        for (int r = 0; r < Rows; r++)
            FakeQuant.Quantize(_weight.AsSpan(r * Cols, Cols), FpFormat.E2M1, _rowScales[r], _destination.AsSpan(r * Cols, Cols));
    }
}
