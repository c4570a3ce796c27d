using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;
using static LlmFp4.Kit.Tests.Calibration.CalibrationTestData;

namespace LlmFp4.Kit.Tests.Calibration;

public class WeightCodeSweepTests
{
    // In = 80: one tile of 64 columns (ActivationSweep.AddRows' block of 64 in registers) and one of 16.
    private const int Tokens = 96, In = 80, Rows = 24;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Swept_errors_are_the_direct_output_errors_of_every_candidate(bool quantizedInput)
    {
        var weight = RandomMatrix(Rows, In, 5, 0.1);
        var group = new InputGroup("wide_input", [new LinearLayer("w", In, Rows, weight)]) { Tokens = Tokens, Inputs = OutlierInputs(Tokens, In, 7) };
        var multipliers = new SearchSettings { Steps = 40 }.Multipliers();
        var grid = new ActivationGrid(FpFormat.E2M1, group.Inputs, Tokens, In, multipliers, false);
        var phase = new GramScorer(group, [grid]).BeginWeightPhase(weight, Rows, quantizedInput ? (0, 20) : null);
        var inputQuantizer = quantizedInput ? grid.Quantizer(20) : null;
        FpFormat[] formats = [FpFormat.E2M1, FpFormat.E1M2, FpFormat.E3M0];
        var starts = formats.Select(format => Ranges.RowBiases(format, weight, Rows, In)).ToArray();
        var allScales = formats.Select((format, f) => multipliers.Select(m => starts[f].Select(b => FpQuantizer.BiasScale(format, m * b)).ToArray()).ToArray()).ToArray();
        var together = formats.Select(_ => multipliers.Select(_ => new double[Rows]).ToArray()).ToArray();
        phase.RowErrors(formats, allScales, together, sweep: true);
        for (int f = 0; f < formats.Length; f++)
        {
            var (format, start, scales) = (formats[f], starts[f], allScales[f]);
            Assert.True(WeightCodeSweep.Pays(format, multipliers.Length));
            var swept = scales.Select(_ => new double[Rows]).ToArray();
            var dense = scales.Select(_ => new double[Rows]).ToArray();
            phase.RowErrors([format], [scales], [swept], sweep: true);
            phase.RowErrors([format], [scales], [dense], sweep: false);
            // Swept together or alone, a format's errors are the same bit for bit.
            Assert.Equal(swept, together[f]);
            var direct = new double[Rows];
            for (int i = 0; i < scales.Length; i++)
            {
                var quantized = FpQuantizer.PerRow(format, [.. start.Select(b => multipliers[i] * b)]).Quantize(weight, Rows, In);
                DirectMse(group.Inputs, Tokens, In, weight, Rows, inputQuantizer, quantized, direct);
                // The sweep scores the exact s·a, the direct sum the float32 weights: they differ by float32 rounding.
                for (int r = 0; r < Rows; r++)
                {
                    Assert.Equal(direct[r], swept[i][r], direct[r] * 1e-5);
                    Assert.Equal(direct[r], dense[i][r], direct[r] * 1e-4);
                }
            }
        }
    }

    [Fact]
    public void Sweeping_part_of_the_candidates_gives_their_errors()
    {
        var weight = RandomMatrix(Rows, In, 6, 0.1);
        var group = new InputGroup("wide_input", [new LinearLayer("w", In, Rows, weight)]) { Tokens = Tokens, Inputs = OutlierInputs(Tokens, In, 8) };
        var multipliers = new SearchSettings { Steps = 40 }.Multipliers();
        var grid = new ActivationGrid(FpFormat.E2M1, group.Inputs, Tokens, In, multipliers, false);
        var phase = new GramScorer(group, [grid]).BeginWeightPhase(weight, Rows, (0, 10));
        var start = Ranges.RowBiases(FpFormat.E2M1, weight, Rows, In);
        var scales = multipliers.Select(m => start.Select(b => FpQuantizer.BiasScale(FpFormat.E2M1, m * b)).ToArray()).ToArray();
        var all = scales.Select(_ => new double[Rows]).ToArray();
        phase.RowErrors([FpFormat.E2M1], [scales], [all], sweep: true);
        // Candidates 30… alone: their first step lists every nonzero code at once.
        var tail = scales[30..].Select(_ => new double[Rows]).ToArray();
        phase.RowErrors([FpFormat.E2M1], [scales[30..]], [tail], sweep: true);
        for (int i = 0; i < tail.Length; i++)
            for (int r = 0; r < Rows; r++)
                Assert.Equal(all[30 + i][r], tail[i][r], Math.Abs(all[30 + i][r]) * 1e-9);
    }

    [Theory]
    [InlineData(144, false)]
    [InlineData(144, true)]
    [InlineData(64, true)]
    public void Tiles_in_registers_give_the_errors_of_the_plain_additions_bit_for_bit(int cols, bool crossGram)
    {
        // 144 inputs: two whole tiles of 64 (SweepRowThroughTile on AVX-512) and one of 16 (always the plain path).
        const int rows = 20, tokens = 48;
        var weight = RandomMatrix(rows, cols, 11, 0.1);
        var x = OutlierInputs(tokens, cols, 12);
        var delta = RandomMatrix(tokens, cols, 13, 0.01);
        float[] Gram(float[] left, float[] right)
        {
            var gram = new float[cols * cols];
            for (int i = 0; i < cols; i++)
                for (int j = 0; j < cols; j++)
                {
                    double sum = 0;
                    for (int t = 0; t < tokens; t++) sum += (double)left[t * cols + i] * right[t * cols + j];
                    gram[i * cols + j] = (float)sum;
                }
            return gram;
        }
        var rowConstant = Enumerable.Range(0, rows).Select(r => 0.5 + r).ToArray();
        var multipliers = new SearchSettings { Steps = 100 }.Multipliers();
        FpFormat[] formats = [FpFormat.E2M1, FpFormat.E1M2, FpFormat.E3M0];
        var scales = formats.Select(format =>
        {
            var start = Ranges.RowBiases(format, weight, rows, cols);
            return (IReadOnlyList<float[]>)multipliers.Select(m => start.Select(b => FpQuantizer.BiasScale(format, m * b)).ToArray()).ToArray();
        }).ToArray();
        double[][][] Errors(bool registerTiles)
        {
            var sweep = new WeightCodeSweep(weight, rows, cols, Gram(x, x), crossGram ? Gram(x, delta) : null, rowConstant) { RegisterTiles = registerTiles };
            var errors = formats.Select(_ => multipliers.Select(_ => new double[rows]).ToArray()).ToArray();
            sweep.RowErrors(formats, scales, errors);
            return errors;
        }
        var plain = Errors(registerTiles: false);
        Assert.Equal(plain, Errors(registerTiles: System.Runtime.Intrinsics.X86.Avx512F.IsSupported));
        Assert.Contains(plain.SelectMany(f => f).SelectMany(c => c), e => e != plain[0][0][0]);
    }

    [Theory]
    [InlineData(64)]
    [InlineData(13)]
    public void Tile_quadratic_sums_each_lane_in_order(int width)
    {
        var random = new Random(width);
        double[] a = [.. Enumerable.Range(0, width).Select(_ => (double)random.Next(-12, 13) / 4)];
        double[] g = [.. Enumerable.Range(0, width).Select(_ => random.NextDouble() * 100 - 50)];
        double[] h = [.. Enumerable.Range(0, width).Select(_ => random.NextDouble() * 10)];
        var lanes = new double[8];
        for (int t = 0; t < width; t++)
            lanes[t % 8] = Math.FusedMultiplyAdd(a[t], Math.FusedMultiplyAdd(h[t], a[t], 2 * g[t]), lanes[t % 8]);
        double expected = 0;
        foreach (double lane in lanes) expected += lane;
        Assert.Equal(expected, WeightCodeSweep.TileQuadratic(a, g, h));
    }

    [Fact]
    public void Only_formats_with_few_grid_values_at_many_candidates_are_swept()
    {
        Assert.True(WeightCodeSweep.Pays(FpFormat.E2M1, 101));
        Assert.False(WeightCodeSweep.Pays(FpFormat.E2M1, 21));
        Assert.False(WeightCodeSweep.Pays(FpFormat.E4M3, 101));
    }
}
