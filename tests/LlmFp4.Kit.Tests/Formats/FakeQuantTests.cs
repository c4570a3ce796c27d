using System.Runtime.Intrinsics;
using LlmFp4.Kit.Formats;
using static LlmFp4.Kit.Formats.FakeQuant;

namespace LlmFp4.Kit.Tests.Formats;

public class FakeQuantTests
{
    private static readonly string[] FormatNames =
        [.. FpFormat.PresetNames, "E0M3(b=0)", "E2M1(b=0.7)", "E3M2(b=-1.25)", "E1M1(b=2,NanOnly)", "E8M23(b=127,Ieee)", "E8M7(b=127)", "E4M3(b=5.5)"];

    private static readonly Granularity[] Granularities =
        [Granularity.PerTensor, Granularity.PerRow, Granularity.PerColumn, Granularity.PerGroup(8), Granularity.PerGroup(5)];

    private static SimdWidth[] Widths()
    {
        var widths = new List<SimdWidth>();
        if (Vector256.IsHardwareAccelerated)
            widths.Add(SimdWidth.Vector256);
        if (Vector512.IsHardwareAccelerated)
            widths.Add(SimdWidth.Vector512);
        return [.. widths];
    }

    /// <summary>Values over many binades around 1 plus specials, so every path (saturation, subnormals, NaN) is hit after scaling.</summary>
    private static float[] TestData(int count, int seed)
    {
        var random = new Random(seed);
        var x = new float[count];
        float[] specials = [0f, -0f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, float.MaxValue, float.Epsilon, -1e-30f, 1e30f];
        for (int i = 0; i < count; i++)
            x[i] = random.Next(20) == 0
                ? specials[random.Next(specials.Length)]
                : (float)((random.Next(2) == 0 ? 1 : -1) * Math.Pow(2, random.NextDouble() * 40 - 20) * (1 + random.NextDouble()));
        return x;
    }

    private static void AssertSameBits(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToUInt32Bits(expected[i]) != BitConverter.SingleToUInt32Bits(actual[i]) && !(float.IsNaN(expected[i]) && float.IsNaN(actual[i])))
                Assert.Fail($"{what}: element {i}: expected {expected[i]:R}, got {actual[i]:R}");
    }

    [Fact]
    public void BitTrickGridMatchesTheExactQuantizer()
    {
        var x = TestData(20_000, seed: 5);
        var random = new Random(6);
        var formats = FpFormat.PresetNames.Select(FpFormat.Parse).ToList();
        for (int i = 0; i < 40; i++)
        {
            int e = random.Next(0, 6);
            formats.Add(FpFormat.Create(e, random.Next(2, 8), random.Next(-8, 20), e == 0 ? SpecialValues.NanOnly : (SpecialValues)random.Next(3)));
        }
        foreach (var format in formats.Where(f => f.HasFastGrid))
            foreach (float v in x)
            {
                float fast = format.Grid.Quantize(v), exact = format.RoundToGridExact(v);
                Assert.True(BitConverter.SingleToUInt32Bits(fast) == BitConverter.SingleToUInt32Bits(exact) || (float.IsNaN(fast) && float.IsNaN(exact)),
                    $"{format}: x = {v:R}: grid {fast:R}, exact {exact:R}");
            }
    }

    [Fact]
    public void FpSpanKernelsMatchTheScalarReference()
    {
        var x = TestData(1021, seed: 7);
        var scales = TestData(1021, seed: 8).Select(s => float.IsFinite(s) ? MathF.Abs(s) : 0f).ToArray();
        var expected = new float[x.Length];
        var actual = new float[x.Length];
        foreach (var format in FormatNames.Select(FpFormat.Parse))
        {
            foreach (float scale in new[] { 1f, 0.37f, 1e-3f, 2048f, 0f })
            {
                QuantizeCore(x, format, scale, expected, SimdWidth.Scalar);
                foreach (var width in Widths())
                {
                    QuantizeCore(x, format, scale, actual, width);
                    AssertSameBits(expected, actual, $"{format} scale {scale} {width}");
                }
            }
            QuantizePerColumnCore(x, format, scales, expected, SimdWidth.Scalar);
            foreach (var width in Widths())
            {
                QuantizePerColumnCore(x, format, scales, actual, width);
                AssertSameBits(expected, actual, $"{format} per column {width}");
            }
        }
    }

    [Fact]
    public void IntSpanKernelsMatchTheScalarReference()
    {
        var x = TestData(1021, seed: 9);
        var scales = TestData(1021, seed: 10).Select(s => float.IsFinite(s) ? MathF.Abs(s) : 0f).ToArray();
        var zeros = Enumerable.Range(0, x.Length).Select(i => i % 16).ToArray();
        var expected = new float[x.Length];
        var expectedPerColumn = new float[x.Length];
        var actual = new float[x.Length];
        foreach (var format in new[] { IntFormat.Int4, IntFormat.Int8, IntFormat.Asymmetric(4), IntFormat.Symmetric(2), IntFormat.Asymmetric(16) })
        {
            int zero = format.IsSymmetric ? 0 : 3;
            int[] columnZeros = format.IsSymmetric ? [] : zeros;
            QuantizeIntCore(x, format, 0.3f, zero, expected, SimdWidth.Scalar);
            QuantizeIntPerColumnCore(x, format, scales, columnZeros, expectedPerColumn, SimdWidth.Scalar);
            for (int i = 0; i < x.Length; i++)
                Assert.True(BitConverter.SingleToUInt32Bits(format.Quantize(x[i], 0.3f, zero)) == BitConverter.SingleToUInt32Bits(expected[i]) || float.IsNaN(x[i]));
            foreach (var width in Widths())
            {
                QuantizeIntCore(x, format, 0.3f, zero, actual, width);
                AssertSameBits(expected, actual, $"{format} {width}");
                QuantizeIntPerColumnCore(x, format, scales, columnZeros, actual, width);
                AssertSameBits(expectedPerColumn, actual, $"{format} per column {width}");
            }
        }
    }

    [Fact]
    public void IntQuantizationRoundsHalfToEvenAndClamps()
    {
        var int4 = IntFormat.Int4;
        Assert.Equal((-7, 7), (int4.QMin, int4.QMax));
        float[] x = [1.25f, 1.75f, -1.25f, 0.3f, 100f, -100f, float.NaN, -0f];
        var q = new float[x.Length];
        int4.Quantize(x, 0.5f, 0, q);
        Assert.Equal([1f, 2f, -1f, 0.5f, 3.5f, -3.5f], q[..6]);
        Assert.True(float.IsNaN(q[6]));
        var uint4 = IntFormat.Asymmetric(4);
        var (scale, zero) = uint4.MinMaxParameters(-1f, 2f);
        Assert.Equal(0.2f, scale);
        Assert.Equal(5, zero);
        Assert.Equal(2f, uint4.Quantize(5f, scale, zero), 1e-6f);
        Assert.Equal(-1f, uint4.Quantize(-5f, scale, zero), 1e-6f);
        Assert.Equal(0f, uint4.Quantize(0.09f, scale, zero));
        Assert.Equal(15, uint4.Encode(9f, scale, zero));
        Assert.Throws<ArgumentOutOfRangeException>(() => IntFormat.Symmetric(17));
        Assert.Throws<ArgumentOutOfRangeException>(() => IntFormat.Asymmetric(1));
        Assert.Equal(IntFormat.Asymmetric(4), IntFormat.Parse("uint4"));
        Assert.Throws<ArgumentException>(() => IntFormat.Parse("INT1"));
    }

    /// <summary>Scale of element (r, c) under each granularity, spelled out independently of the kernels.</summary>
    private static float ScaleAt(Granularity g, float[] scales, int r, int c, int cols) => g.Kind switch
    {
        GranularityKind.PerTensor => scales[0],
        GranularityKind.PerRow => scales[r],
        GranularityKind.PerColumn => scales[c],
        _ => scales[r * ((cols + g.GroupSize - 1) / g.GroupSize) + c / g.GroupSize],
    };

    [Fact]
    public void MatrixKernelsApplyEachGranularity()
    {
        const int rows = 13, cols = 37;
        var x = TestData(rows * cols, seed: 11);
        var random = new Random(12);
        var actual = new float[x.Length];
        foreach (var g in Granularities)
        {
            var scales = Enumerable.Range(0, g.ScaleCount(rows, cols)).Select(_ => (float)Math.Pow(2, random.NextDouble() * 8 - 4)).ToArray();
            foreach (var format in new[] { FpFormat.E2M1, FpFormat.E4M3, FpFormat.Create(0, 3, 0), FpFormat.Create(3, 2, 1.3) })
            {
                QuantizeMatrix(x, rows, cols, format, g, scales, actual);
                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < cols; c++)
                    {
                        float s = ScaleAt(g, scales, r, c, cols) * (float)Math.Pow(2, Math.Floor(format.Bias) - format.Bias);
                        float expected = format.WithBias(Math.Floor(format.Bias)).RoundToGridExact(x[r * cols + c] / s) * s;
                        Assert.True(expected.Equals(actual[r * cols + c]), $"{format} {g} ({r},{c}): expected {expected:R}, got {actual[r * cols + c]:R}");
                    }
            }
            var zeros = Enumerable.Range(0, scales.Length).Select(i => i % 7).ToArray();
            var uint4 = IntFormat.Asymmetric(4);
            QuantizeMatrix(x, rows, cols, uint4, g, scales, zeros, actual);
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)
                {
                    int slot = g.Kind switch { GranularityKind.PerTensor => 0, GranularityKind.PerRow => r, GranularityKind.PerColumn => c, _ => r * g.GroupsPerRow(cols) + c / g.GroupSize };
                    Assert.Equal(uint4.Quantize(x[r * cols + c], scales[slot], zeros[slot]), actual[r * cols + c]);
                }
        }
    }

    [Fact]
    public void SimdAndParallelMatrixKernelsMatchTheScalarSequentialRun()
    {
        const int rows = 300, cols = 1031; // above the parallel threshold, odd width so every row has a scalar tail
        var x = TestData(rows * cols, seed: 13);
        var random = new Random(14);
        var expected = new float[x.Length];
        var actual = new float[x.Length];
        foreach (var g in Granularities)
        {
            var scales = Enumerable.Range(0, g.ScaleCount(rows, cols)).Select(_ => (float)Math.Pow(2, random.NextDouble() * 8 - 4)).ToArray();
            foreach (var format in FormatNames.Select(FpFormat.Parse).Where(f => f.HasFastGrid))
            {
                QuantizeMatrix(x, rows, cols, format, g, scales, expected, SimdWidth.Scalar, parallel: false);
                QuantizeMatrix(x, rows, cols, format, g, scales, actual);
                AssertSameBits(expected, actual, $"{format} {g}");
            }
            QuantizeMatrix(x, rows, cols, IntFormat.Int4, g, scales, [], expected, SimdWidth.Scalar, parallel: false);
            QuantizeMatrix(x, rows, cols, IntFormat.Int4, g, scales, [], actual);
            AssertSameBits(expected, actual, $"INT4 {g}");
        }
    }

    [Fact]
    public void SquaredErrorIsTheDistanceToTheQuantizedValues()
    {
        var x = Enumerable.Range(0, 1000).Select(i => MathF.Sin(i) * 5).ToArray();
        var q = new float[x.Length];
        double error = QuantizeWithSquaredError(x, FpFormat.E2M1, 0.8f, q);
        Assert.Equal(x.Zip(q, (a, b) => (double)(a - b) * (a - b)).Sum(), error, 1e-9);
        Assert.True(error > 0);
    }

    [Fact]
    public void AbsMaxAndMinMaxPerSlot()
    {
        float[] x = [1, -5, 2, 3, /**/ -4, 0, 7, -1];
        var amax = new float[4];
        AbsMax(x, 2, 4, Granularity.PerColumn, amax);
        Assert.Equal([4f, 5f, 7f, 3f], amax);
        var groups = new float[4];
        AbsMax(x, 2, 4, Granularity.PerGroup(3), groups);
        Assert.Equal([5f, 3f, 7f, 1f], groups);
        var min = new float[2];
        var max = new float[2];
        MinMax(x, 2, 4, Granularity.PerRow, min, max);
        Assert.Equal([-5f, -4f], min);
        Assert.Equal([3f, 7f], max);
    }

    [Fact]
    public void GranularitySerialisesAsData()
    {
        var json = System.Text.Json.JsonSerializer.Serialize(Granularity.PerGroup(128));
        Assert.Equal("{\"Kind\":\"PerGroup\",\"GroupSize\":128}", json);
        Assert.Equal(Granularity.PerGroup(128), System.Text.Json.JsonSerializer.Deserialize<Granularity>(json));
        Assert.Equal(Granularity.PerRow, System.Text.Json.JsonSerializer.Deserialize<Granularity>("{\"Kind\":\"PerRow\"}"));
    }

    [Fact]
    public void BadShapesAndScalesGiveClearErrors()
    {
        var x = new float[12];
        var d = new float[12];
        var error = Assert.Throws<ArgumentException>(() => QuantizeMatrix(x, 3, 4, FpFormat.E2M1, Granularity.PerRow, new float[4], d));
        Assert.Contains("needs 3 scales", error.Message);
        Assert.Throws<ArgumentException>(() => QuantizeMatrix(x, 3, 5, FpFormat.E2M1, Granularity.PerTensor, new float[1], d));
        Assert.Throws<ArgumentOutOfRangeException>(() => Quantize(x, FpFormat.E2M1, -1f, d));
        Assert.Throws<ArgumentOutOfRangeException>(() => Quantize(x, FpFormat.E2M1, float.NaN, d));
        Assert.Throws<ArgumentException>(() => Quantize(x, FpFormat.E2M1, 1f, new float[3]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Granularity.PerGroup(0));
    }
}
