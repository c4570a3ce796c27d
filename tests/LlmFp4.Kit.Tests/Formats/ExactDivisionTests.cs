using System.Runtime.Intrinsics;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Quantization;
using static LlmFp4.Kit.Formats.FakeQuant;

namespace LlmFp4.Kit.Tests.Formats;

/// <summary>
/// Every quantizer divides: q = s·roundHalfEven(x / s) with x / s one float32 division, the formula of LLM-FP4 (§3)
/// and the float32 arithmetic of the papers' PyTorch code. Multiplying by 1/s instead rounds differently next to grid
/// midpoints, so these tests put values within two float32 steps of every midpoint of each grid, for random scales,
/// through every kernel and quantizer, and compare with the formula spelled out here.
/// </summary>
public class ExactDivisionTests
{
    private const int Scales = 12;

    /// <summary>
    /// The value of <paramref name="grid"/> (ascending magnitudes from 0) nearest to <paramref name="magnitude"/>; a tie
    /// goes to the neighbour that is an even multiple of the step between the two, as roundHalfEven(y / step)·step does.
    /// Beyond the largest value: that value (saturating formats), or infinity from its midpoint with the next binade on (IEEE).
    /// </summary>
    private static double RoundHalfEven(double magnitude, double[] grid, bool overflowsToInfinity)
    {
        int index = Array.BinarySearch(grid, magnitude);
        if (index >= 0)
            return grid[index];
        int upperIndex = ~index;
        double lower = grid[upperIndex - 1];
        if (upperIndex == grid.Length && !overflowsToInfinity)
            return lower;
        double step = upperIndex == grid.Length ? lower - grid[^2] : grid[upperIndex] - lower;
        double upper = upperIndex == grid.Length ? double.PositiveInfinity : grid[upperIndex];
        double middle = lower + step / 2;
        if (magnitude != middle)
            return magnitude < middle ? lower : upper;
        return Math.Round(lower / step) % 2 == 0 ? lower : upper;
    }

    /// <summary>Magnitudes of the integer-bias grid of <paramref name="format"/> (a real bias b scales the grid of ⌊b⌋ by 2^(⌊b⌋ - b)).</summary>
    private static double[] Grid(FpFormat format) =>
        [.. FpFormat.Create(format.ExponentBits, format.MantissaBits, Math.Floor(format.Bias), format.Specials).Values];

    /// <summary>The scale of the integer-bias grid: the scale times 2^(⌊b⌋ - b), each factor and the product in float32.</summary>
    private static float GridScale(FpFormat format, float scale) =>
        (float)(scale * (double)(float)Math.Pow(2, Math.Floor(format.Bias) - format.Bias));

    /// <summary>
    /// s·roundHalfEven(x / s) on the format's grid, x / s in float32 (the double quotient of two floats rounded to
    /// float32 is their float32 quotient: double has more than twice float's precision).
    /// </summary>
    private static float Reference(float x, FpFormat format, double[] grid, float scale, bool overflowsToInfinity)
    {
        float s = GridScale(format, scale);
        float y = (float)((double)x / s);
        double q = Math.CopySign(RoundHalfEven(Math.Abs((double)y), grid, overflowsToInfinity), y);
        return (float)(q * s);
    }

    private static float Reference(float x, FpFormat format, double[] grid, float scale) =>
        Reference(x, format, grid, scale, format.Specials == SpecialValues.Ieee);

    private static int ReferenceCode(float x, IntFormat format, float scale, int zeroPoint) =>
        (int)Math.Clamp(Math.Round((double)(float)((double)x / scale), MidpointRounding.ToEven) + zeroPoint, format.QMin, format.QMax);

    private static float ReferenceInt(float x, IntFormat format, float scale, int zeroPoint) =>
        (float)((ReferenceCode(x, format, scale, zeroPoint) - zeroPoint) * (double)scale);

    /// <summary>Midpoints (a + b)/2 of every <paramref name="stride"/>-th pair of neighbours of the grid, and the one past its largest value.</summary>
    private static double[] Midpoints(double[] grid, int stride = 1) =>
        [.. Enumerable.Range(0, grid.Length - 1).Where(k => k % stride == 0).Select(k => (grid[k] + grid[k + 1]) / 2).Append(grid[^1] + (grid[^1] - grid[^2]) / 2)];

    /// <summary>
    /// Ten values per midpoint m: m·s rounded to float32 and its neighbours up to two float32 steps away, both signs,
    /// s being <paramref name="gridScaleOf"/>(index of the value).
    /// </summary>
    private static float[] NearMidpoints(double[] midpoints, Func<int, float> gridScaleOf)
    {
        var values = new float[midpoints.Length * 10];
        for (int i = 0; i < values.Length; i++)
        {
            float v = (float)(midpoints[i / 10] * gridScaleOf(i));
            for (int step = 0; step < (i % 10) / 2 - 2; step++) v = MathF.BitIncrement(v);
            for (int step = 0; step < 2 - (i % 10) / 2; step++) v = MathF.BitDecrement(v);
            values[i] = i % 2 == 0 ? v : -v;
        }
        return values;
    }

    private static float[] NearMidpoints(double[] grid, float gridScale, int stride = 1) => NearMidpoints(Midpoints(grid, stride), _ => gridScale);

    private static float RandomScale(Random random) => (float)(Math.Pow(2, random.Next(-10, 10)) * (1 + random.NextDouble()));

    private static SimdWidth[] Widths()
    {
        var widths = new List<SimdWidth> { SimdWidth.Scalar };
        if (Vector256.IsHardwareAccelerated) widths.Add(SimdWidth.Vector256);
        if (Vector512.IsHardwareAccelerated) widths.Add(SimdWidth.Vector512);
        return [.. widths];
    }

    /// <summary>
    /// The quantizer whose exponent biases give exactly <paramref name="scales"/> on <paramref name="format"/>: it works
    /// on the bias-0 format, so its scales are scale·2^-B (B = the format's integer bias), the same arithmetic.
    /// </summary>
    private static FpQuantizer QuantizerWithScales(FpFormat format, Granularity granularity, float[] scales)
    {
        var quantizer = new FpQuantizer(format, granularity, [.. scales.Select(s => format.Bias - Math.Log2(s))]);
        Assert.Equal(scales.Select(s => MathF.ScaleB(s, -(int)format.Bias)), quantizer.Scales);
        return quantizer;
    }

    private static void AssertSame(float expected, float actual, string what)
    {
        if (BitConverter.SingleToUInt32Bits(expected) != BitConverter.SingleToUInt32Bits(actual))
            Assert.Fail($"{what}: expected {expected:R}, got {actual:R}");
    }

    [Fact]
    public void TheExamplesRoundXOverS()
    {
        // E2M1, s = 7·2^-9: x / s = 1.7499999 rounds to 1.5; x · (1/s) = 1.75 is a tie and went to 2.
        float s = 7 * MathF.ScaleB(1f, -9), x = 0.0239257794f;
        var q = new float[1];
        FakeQuant.Quantize([x], FpFormat.E2M1, s, q);
        Assert.Equal(0.0205078125f, q[0]);
        Assert.Equal(0.0205078125f, QuantizerWithScales(FpFormat.E2M1, Granularity.PerTensor, [s]).Quantize([x], 1, 1)[0]);

        // INT4: x / s = 3.4999998 is code 3; x · (1/s) = 3.5 went to 4.
        Assert.Equal(3, IntFormat.Int4.Encode(0.042031463f, 0.012008990f));
        // x / s = -4.5000243 (not a tie): code -5, by division and by the reciprocal alike.
        Assert.Equal(-5, IntFormat.Int4.Encode(-0.182314f, 0.040514f));
    }

    public static TheoryData<string, int> FpFormats() => new()
    {
        { "E2M1", 1 }, { "E1M2", 1 }, { "E3M0", 1 }, { "E2M3", 1 }, { "E3M2", 1 }, { "E4M3", 1 }, { "E5M2", 1 }, { "Half", 29 }, { "BFloat16", 31 },
        { "E0M3(b=0)", 1 }, { "E1M1(b=2,NanOnly)", 1 }, { "E2M1(b=0.7)", 1 }, { "E3M2(b=-1.25)", 1 }, { "E4M3(b=5.5)", 1 },
    };

    [Theory]
    [MemberData(nameof(FpFormats))]
    public void FpKernelsRoundXOverSNearEveryMidpoint(string name, int stride)
    {
        var format = FpFormat.Parse(name);
        var grid = Grid(format);
        var random = new Random(name.Length * 31 + stride);
        for (int trial = 0; trial < Scales; trial++)
        {
            float scale = RandomScale(random);
            var x = NearMidpoints(grid, GridScale(format, scale), stride);
            var actual = new float[x.Length];
            foreach (var width in Widths())
            {
                QuantizeCore(x, format, scale, actual, width);
                for (int i = 0; i < x.Length; i++)
                    AssertSame(Reference(x[i], format, grid, scale), actual[i], $"{format} scale {scale:R} {width} x = {x[i]:R}");
            }

            // Per column: every element its own scale, next to a midpoint of its own scale.
            var scales = Enumerable.Range(0, x.Length).Select(_ => RandomScale(random)).ToArray();
            var xs = NearMidpoints(Midpoints(grid, stride), i => GridScale(format, scales[i]));
            foreach (var width in Widths())
            {
                QuantizePerColumnCore(xs, format, scales, actual, width);
                for (int i = 0; i < xs.Length; i++)
                    AssertSame(Reference(xs[i], format, grid, scales[i]), actual[i], $"{format} per column {width} x = {xs[i]:R}, scale {scales[i]:R}");
            }
        }

        // The format on its own is scale 1 (a real bias still divides by 2^(⌊b⌋ - b)).
        var unscaled = NearMidpoints(grid, GridScale(format, 1f), stride);
        var quantized = new float[unscaled.Length];
        format.Quantize(unscaled, quantized);
        for (int i = 0; i < unscaled.Length; i++)
        {
            AssertSame(Reference(unscaled[i], format, grid, 1f), format.Quantize(unscaled[i]), $"{format}.Quantize({unscaled[i]:R})");
            AssertSame(Reference(unscaled[i], format, grid, 1f), quantized[i], $"{format}.Quantize(span) x = {unscaled[i]:R}");
        }
    }

    [Fact]
    public void MatrixKernelsAndQuantizersRoundXOverS()
    {
        var random = new Random(5);
        foreach (var format in new[] { FpFormat.E2M1, FpFormat.E4M3, FpFormat.E3M0 })
        {
            var grid = Grid(format);
            var midpoints = Midpoints(grid);
            int cols = midpoints.Length * 10;
            const int rows = 8;
            foreach (var granularity in new[] { Granularity.PerTensor, Granularity.PerRow, Granularity.PerColumn, Granularity.PerGroup(7) })
            {
                var scales = Enumerable.Range(0, granularity.ScaleCount(rows, cols)).Select(_ => RandomScale(random)).ToArray();
                float ScaleOf(int r, int c) => granularity.Kind switch
                {
                    GranularityKind.PerTensor => scales[0],
                    GranularityKind.PerRow => scales[r],
                    GranularityKind.PerColumn => scales[c],
                    _ => scales[r * granularity.GroupsPerRow(cols) + c / granularity.GroupSize],
                };
                var x = new float[rows * cols];
                for (int r = 0; r < rows; r++)
                    NearMidpoints(midpoints, c => ScaleOf(r, c)).CopyTo(x, r * cols);
                var fromKernel = new float[x.Length];
                QuantizeMatrix(x, rows, cols, format, granularity, scales, fromKernel);
                var fromQuantizer = QuantizerWithScales(format, granularity, scales).Quantize(x, rows, cols);
                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < cols; c++)
                    {
                        float expected = Reference(x[r * cols + c], format, grid, ScaleOf(r, c));
                        AssertSame(expected, fromKernel[r * cols + c], $"{format} {granularity} ({r}, {c})");
                        AssertSame(expected, fromQuantizer[r * cols + c], $"FpQuantizer {format} {granularity} ({r}, {c})");
                    }
            }
        }
    }

    [Fact]
    public void IntKernelsRoundXOverSNearEveryHalfInteger()
    {
        var random = new Random(6);
        foreach (var format in new[] { IntFormat.Int4, IntFormat.Int8, IntFormat.Asymmetric(4), IntFormat.Symmetric(2) })
            for (int trial = 0; trial < Scales; trial++)
            {
                float scale = RandomScale(random);
                int zero = format.IsSymmetric ? 0 : random.Next(format.QMin, format.QMax + 1);
                var halves = Enumerable.Range(format.QMin - zero - 1, format.QMax - format.QMin + 2).Select(k => (double)k + 0.5).ToArray();
                var x = halves.SelectMany(h =>
                {
                    float v = (float)(h * scale);
                    return new[] { v, MathF.BitDecrement(v), MathF.BitIncrement(v), MathF.BitDecrement(MathF.BitDecrement(v)), MathF.BitIncrement(MathF.BitIncrement(v)) };
                }).ToArray();
                var actual = new float[x.Length];
                foreach (var width in Widths())
                {
                    QuantizeIntCore(x, format, scale, zero, actual, width);
                    for (int i = 0; i < x.Length; i++)
                        AssertSame(ReferenceInt(x[i], format, scale, zero), actual[i], $"{format} scale {scale:R} zero {zero} {width} x = {x[i]:R}");
                    var scales = Enumerable.Repeat(scale, x.Length).ToArray();
                    var zeros = format.IsSymmetric ? [] : Enumerable.Repeat(zero, x.Length).ToArray();
                    QuantizeIntPerColumnCore(x, format, scales, zeros, actual, width);
                    for (int i = 0; i < x.Length; i++)
                        AssertSame(ReferenceInt(x[i], format, scale, zero), actual[i], $"{format} per column {width} x = {x[i]:R}");
                }
                var quantizer = new IntQuantizer(format, Granularity.PerTensor, [scale], format.IsSymmetric ? [] : [zero]).Quantize(x, 1, x.Length);
                for (int i = 0; i < x.Length; i++)
                {
                    float expected = ReferenceInt(x[i], format, scale, zero);
                    AssertSame(expected, format.Quantize(x[i], scale, zero), $"{format}.Quantize x = {x[i]:R}");
                    AssertSame(expected, quantizer[i], $"IntQuantizer {format} x = {x[i]:R}");
                    Assert.Equal(ReferenceCode(x[i], format, scale, zero), format.Encode(x[i], scale, zero));
                }
            }
    }

    /// <summary>
    /// Each block's elements sit next to midpoints of the grid scaled by the block's scale (set by its first element, the
    /// block's largest): MX scales are powers of two, NVFP4 scales E4M3 values times the tensor scale.
    /// </summary>
    [Fact]
    public void BlockScaledFormatsRoundXOverTheBlockScale()
    {
        var random = new Random(7);
        foreach (var format in BlockScaledFormat.Presets)
        {
            var grid = Grid(format.ElementFormat);
            var midpoints = Midpoints(grid);
            double max = grid[^1];
            int blocks = 24, cols = format.BlockSize * blocks;
            var x = new float[cols];
            var blockMax = Enumerable.Range(0, blocks).Select(_ => RandomScale(random) * (float)max).ToArray();
            float tensorScale = format.ScaleKind == BlockScaleKind.E4M3WithTensorScale ? blockMax.Max() / (6f * 448f) : 1f;
            var blockScales = blockMax.Select(m => format.BlockScale(m, tensorScale)).ToArray();
            for (int b = 0; b < blocks; b++)
            {
                // The other elements lie below the block's largest, so the scale stays the one computed above.
                var near = NearMidpoints(midpoints, _ => blockScales[b]).Where(v => MathF.Abs(v) < blockMax[b]).ToArray();
                x[b * format.BlockSize] = blockMax[b];
                for (int i = 1; i < format.BlockSize; i++)
                    x[b * format.BlockSize + i] = near[random.Next(near.Length)];
            }
            var actual = new float[cols];
            format.Quantize(x, 1, cols, actual);
            // OCP MX element conversion saturates, E5M2 included.
            for (int i = 0; i < cols; i++)
                AssertSame(Reference(x[i], format.ElementFormat, grid, blockScales[i / format.BlockSize], overflowsToInfinity: false), actual[i], $"{format} element {i}");
        }
    }
}
