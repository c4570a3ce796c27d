using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Quantization;
using static LlmFp4.Kit.Tests.Calibration.CalibrationTestData;

namespace LlmFp4.Kit.Tests.Calibration;

public class KernelTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(1000)]
    [InlineData(300_001)]
    public void Double_sums_agree_with_their_scalar_references(int length)
    {
        var a = RandomMatrix(1, length, 1);
        var b = RandomMatrix(1, length, 2);
        double dot = DoubleSums.DotScalar(a, b), squares = DoubleSums.SumOfSquaredSumsScalar(a, b);
        Assert.Equal(dot, DoubleSums.Dot(a, b), Math.Abs(dot) * 1e-12 + 1e-12);
        Assert.Equal(dot, DoubleSums.DotParallel(a, b), Math.Abs(dot) * 1e-12 + 1e-12);
        Assert.Equal(squares, DoubleSums.SumOfSquaredSums(a, b), squares * 1e-12);
        Assert.Equal(squares, DoubleSums.SumOfSquaredSumsParallel(a, b), squares * 1e-12);
        Assert.Equal(DoubleSums.DotParallel(a, b), DoubleSums.DotParallel(a, b));
    }

    [Fact]
    public void Layer_error_matches_a_double_precision_reference()
    {
        const int tokens = 2100, inFeatures = 12, outFeatures = 5;
        var x = OutlierInputs(tokens, inFeatures, 3);
        var w = RandomMatrix(outFeatures, inFeatures, 4);
        var quantizer = MinMax.ForActivation(QuantSpec.Fp(4, LlmFp4.Kit.Formats.Granularity.PerTensor), x, tokens, inFeatures);
        var quantizedWeight = MinMax.ForMatrix(QuantSpec.Int(4, LlmFp4.Kit.Formats.Granularity.PerRow), w, outFeatures, inFeatures).Quantize(w, outFeatures, inFeatures);
        double reference = DirectMse(x, tokens, inFeatures, w, outFeatures, quantizer, quantizedWeight);
        Assert.Equal(reference, LayerError.Mse(x, tokens, inFeatures, outFeatures, w, quantizedWeight, quantizer), reference * 1e-5);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(16)]
    [InlineData(37)]
    [InlineData(4099)]
    public void Sweep_kernels_equal_their_scalar_definitions_bit_for_bit(int length)
    {
        var reference = RandomMatrix(1, length, 5);
        var products = RandomMatrix(1, length, 7).Select(v => (double)v * 1.000001).ToArray();
        // As the sweep takes it: whole blocks a tile at a time (here 32 outputs), then the finish with the tail.
        int whole = length / ActivationSweep.SquaredErrorLanes * ActivationSweep.SquaredErrorLanes;
        var lanes = new double[ActivationSweep.SquaredErrorLanes];
        for (int first = 0; first < whole; first += 32)
        {
            int width = Math.Min(32, whole - first);
            ActivationSweep.AddSquaredErrorLanes(reference.AsSpan(first, width), products.AsSpan(first, width), 0.73, lanes);
        }
        Assert.Equal(ActivationSweep.SquaredErrorScalar(reference, products, 0.73),
            ActivationSweep.FinishSquaredError(lanes, reference.AsSpan(whole), products.AsSpan(whole), 0.73));

        var a = products;
        var b = reference.Select(v => (double)v).ToArray();
        var dotLanes = new double[8];
        int blocks = length / 8 * 8;
        for (int k = 0; k < blocks; k++) dotLanes[k % 8] = Math.FusedMultiplyAdd(a[k], b[k], dotLanes[k % 8]);
        double total = dotLanes.Sum();
        for (int k = blocks; k < length; k++) total = Math.FusedMultiplyAdd(a[k], b[k], total);
        Assert.Equal(total, Cholesky.Dot(a, b));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(16)]
    [InlineData(37)]
    [InlineData(700)]
    public void Rounding_and_change_lists_equal_their_scalar_definitions_bit_for_bit(int length)
    {
        var x = OutlierInputs(1, length, 11);
        var divisors = RandomMatrix(1, length, 12).Select(v => 0.05f + MathF.Abs(v)).ToArray();
        var ratios = Enumerable.Range(0, length).Select(j => MathF.ScaleB(1, j % 3)).ToArray();
        foreach (var format in new[] { FpFormat.E2M1, FpFormat.E1M2, FpFormat.E3M0, FpFormat.E4M3 })
        {
            // Previous values: this format's own values with every third divisor halved, so some change and the rest stay.
            var previous = new float[length];
            ActivationSweep.RoundScalar(format, x, [.. divisors.Select((d, j) => j % 3 == 0 ? d * 0.5f : d)], ratios, previous, new float[length]);
            var (units, unitsScalar) = (new float[length], new float[length]);
            int changed = ActivationSweep.Round(format, x, divisors, ratios, units, previous);
            Assert.Equal(ActivationSweep.RoundScalar(format, x, divisors, ratios, unitsScalar, previous), changed);
            Assert.Equal(unitsScalar, units);
            var (channels, changes) = (new int[length], new double[length]);
            var (channelsScalar, changesScalar) = (new int[length], new double[length]);
            int count = ActivationSweep.ListChanged(units, previous, channels, changes);
            Assert.Equal(ActivationSweep.ListChangedScalar(units, previous, channelsScalar, changesScalar), count);
            Assert.Equal(changed, count);
            Assert.Equal(channelsScalar[..count], channels[..count]);
            Assert.Equal(changesScalar[..count], changes[..count]);
            if (length >= 37) Assert.InRange(count, 1, length - 1);
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(16, 4)]
    [InlineData(37, 7)]
    [InlineData(48, 0)]
    [InlineData(117, 6)]
    [InlineData(4099, 9)]
    public void Adding_rows_block_by_block_equals_one_axpy_per_row_bit_for_bit(int width, int count)
    {
        // y covers columns 3 … 3 + width of a wider matrix, as a tile of the sweep's outputs does.
        const int offset = 3;
        int stride = width + 7;
        var matrix = RandomMatrix(12, stride, 9);
        int[] rows = [.. Enumerable.Range(0, count).Select(m => (m * 5 + 3) % 12)];
        double[] factors = [.. Enumerable.Range(0, count).Select(m => (m % 3 - 1.25) * (1 + m / 7.0))];
        var start = RandomMatrix(1, width, 10).Select(v => (double)v / 3).ToArray();

        var expected = (double[])start.Clone();
        for (int m = 0; m < count; m++)
            for (int i = 0; i < width; i++)
                expected[i] = Math.FusedMultiplyAdd(factors[m], matrix[rows[m] * stride + offset + i], expected[i]);
        var y = (double[])start.Clone();
        ActivationSweep.AddRows(factors, rows, matrix.AsSpan(offset), stride, y);
        Assert.Equal(expected, y);
        Assert.Throws<ArgumentOutOfRangeException>(() => ActivationSweep.AddRows([1.0], [11], matrix.AsSpan(offset + 8), stride, y));
    }

    [Theory]
    [InlineData(150, 0, 150)]
    [InlineData(150, 70, 80)]
    [InlineData(200, 128, 48)]
    [InlineData(40, 0, 40)]
    public void Adding_a_triangle_skips_only_zeros_bit_for_bit(int triangle, int firstOutput, int width)
    {
        // Rows are input channels of the transposed upper triangle: channel j reaches outputs 0 … j. The tile covers the
        // outputs firstOutput … firstOutput + width, blocks of 64 from its start.
        int stride = triangle + 5;
        var matrix = RandomMatrix(triangle, stride, 13);
        for (int j = 0; j < triangle; j++)
            for (int o = j + 1; o < stride; o++) matrix[j * stride + o] = 0;
        int[] channels = [.. Enumerable.Range(0, triangle).Where(j => j % 7 == 2 || j % 11 == 5)];
        double[] factors = [.. channels.Select(j => (j % 5 - 2.5) / 3)];
        var start = RandomMatrix(1, width, 14).Select(v => (double)v).ToArray();
        var expected = (double[])start.Clone();
        ActivationSweep.AddRows(factors, channels, matrix.AsSpan(firstOutput), stride, expected);
        var y = (double[])start.Clone();
        ActivationSweep.AddTriangle(factors, channels, matrix.AsSpan(firstOutput), stride, firstOutput, y);
        Assert.Equal(expected, y);
    }

    [Fact]
    public void Semidefinite_cholesky_reproduces_the_matrix_and_zeroes_dependent_columns()
    {
        // A = B·Bᵀ with B [6 × 4]: rank 4, so two columns of L must vanish.
        const int n = 6, rank = 4;
        var factor = RandomMatrix(n, rank, 8);
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                for (int k = 0; k < rank; k++) a[i * n + j] += (double)factor[i * rank + k] * factor[j * rank + k];
        var l = Cholesky.LowerSemidefinite(a, n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int k = 0; k < n; k++) sum += l[i * n + k] * l[j * n + k];
                Assert.Equal(a[i * n + j], sum, 1e-9);
                if (j > i) Assert.Equal(0, l[i * n + j]);
            }
        Assert.Equal(2, Enumerable.Range(0, n).Count(j => l[j * n + j] == 0));
    }

    [Theory]
    [InlineData(37, 30)]
    [InlineData(300, 300)]
    [InlineData(520, 500)]
    public void Blocked_cholesky_is_the_reference_byte_for_byte(int n, int rank)
    {
        // A = B·Bᵀ, plus a quarter on the diagonal at full rank; below it, n − rank pivots vanish. 520 reaches the rows
        // the factorization takes in parallel.
        var factor = RandomMatrix(n, rank, 11);
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                double sum = 0;
                for (int k = 0; k < rank; k++) sum += (double)factor[i * rank + k] * factor[j * rank + k];
                a[i * n + j] = a[j * n + i] = sum + (i == j && rank == n ? 0.25 : 0);
            }
        Assert.Equal(Cholesky.LowerSemidefiniteReference(a, n), Cholesky.LowerSemidefinite(a, n));
    }

    [Fact]
    public void Narrowed_layer_has_the_output_error_of_the_wide_one()
    {
        const int inFeatures = 8, outs = 50, tokens = 30;
        var w = RandomMatrix(outs, inFeatures, 9);
        var q = FpQuantizer.PerRow(LlmFp4.Kit.Formats.FpFormat.Create(2, 1, 0), [.. Enumerable.Repeat(2.0, outs)]).Quantize(w, outs, inFeatures);
        var x = OutlierInputs(tokens, inFeatures, 10);
        var xq = FpQuantizer.PerTensor(LlmFp4.Kit.Formats.FpFormat.Create(2, 1, 0), -1.5).Quantize(x, tokens, inFeatures);
        var (narrowW, narrowQ, rows) = ActivationSweep.Narrowed(w, q, outs, inFeatures);
        Assert.Equal(2 * inFeatures, rows);
        // The quantized side is [A; 0] with A upper triangular: exact zeros the sweep may skip.
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < inFeatures; j++)
                if (i >= inFeatures || j < i) Assert.Equal(0f, narrowQ[i * inFeatures + j]);
        double wide = DirectMse(x, tokens, inFeatures, w, outs, new FixedInput(xq), q) * outs;
        double narrow = DirectMse(x, tokens, inFeatures, narrowW, rows, new FixedInput(xq), narrowQ) * rows;
        Assert.Equal(wide, narrow, wide * 1e-5);
    }

    [Theory]
    [InlineData(2048, 2048, true)]   // TinyLlama-1.1B q_proj, o_proj
    [InlineData(256, 2048, false)]   // its k_proj, v_proj
    [InlineData(5632, 2048, true)]   // gate_proj, up_proj
    [InlineData(2048, 5632, false)]  // down_proj
    [InlineData(32000, 2048, true)]  // lm_head
    [InlineData(256, 256, false)]    // the default model's q/k/v and o_proj
    [InlineData(768, 256, true)]     // its gate_proj, up_proj
    [InlineData(200, 80, true)]      // more outputs than twice the inputs, however small
    [InlineData(144, 80, false)]
    public void Layers_are_narrowed_where_the_triangle_saves_additions(int outs, int inFeatures, bool narrowed) =>
        Assert.Equal(narrowed, ActivationSweep.NarrowingPays(outs, inFeatures));

    /// <summary>Replaces the input with a given quantized copy (the narrowing must hold for any input pair).</summary>
    private sealed class FixedInput(float[] quantized) : ITensorQuantizer
    {
        public void Apply(Span<float> values, int rows, int cols) => quantized.AsSpan(0, values.Length).CopyTo(values);
    }
}
