using System.Text.Json;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Tests.Quantization;

public class QuantizerTests
{
    private static float[] RandomValues(int count, int seed, float scale = 1)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale))];
    }

    [Fact]
    public void A_bias_on_the_bias0_format_is_the_format_with_that_bias()
    {
        var values = RandomValues(500, 1, 3);
        foreach (double bias in new[] { 1.0, 2.0, -1.0, 0.37, 3.8 })
        {
            var quantizer = FpQuantizer.PerTensor(FpFormat.Create(2, 1, 0), bias);
            var quantized = quantizer.Quantize(values, 20, 25);
            var reference = FpFormat.Create(2, 1, bias);
            for (int i = 0; i < values.Length; i++)
                Assert.Equal(reference.Quantize(values[i]), quantized[i], 6);
        }
        // Integer biases are exact: E2M1 with b = 1 is OCP FP4.
        var fp4 = FpQuantizer.PerTensor(FpFormat.Create(2, 1, 0), 1).Quantize([0.2f, 0.8f, 2.6f, 5.1f, 7f, -2.4f], 1, 6);
        Assert.Equal(new[] { 0f, 1f, 3f, 6f, 6f, -2f }, fp4);
    }

    [Fact]
    public void Pre_shifted_channels_differ_from_the_shared_scale_by_powers_of_two()
    {
        var format = FpFormat.Create(2, 1, 0);
        var quantizer = FpQuantizer.PreShifted(format, 0.3, [0, 1, 3]);
        Assert.Equal(Granularity.PerColumn, quantizer.Granularity);
        float shared = FpQuantizer.BiasScale(format, 0.3);
        Assert.Equal(new[] { shared, shared / 2, shared / 8 }, quantizer.Scales);
        var values = RandomValues(30, 2);
        var quantized = quantizer.Quantize(values, 10, 3);
        for (int i = 0; i < values.Length; i++)
            Assert.Equal(FpFormat.Create(2, 1, 0.3 + new[] { 0, 1, 3 }[i % 3]).Quantize(values[i]), quantized[i], 6);
    }

    [Fact]
    public void Int_min_max_per_row_and_dynamic_per_token()
    {
        var values = new float[] { 1, -2, 0.5f, 4, 8, -1, 0, 2 };
        var perRow = IntQuantizer.MinMax(IntFormat.Int4, Granularity.PerRow, values, 2, 4);
        Assert.Equal(new[] { 4f / 7, 8f / 7 }, perRow.Scales);
        Assert.Equal(perRow.Quantize(values, 2, 4), new DynamicIntQuantizer(IntFormat.Int4).Quantize(values, 2, 4));

        var asymmetric = IntQuantizer.MinMax(IntFormat.Asymmetric(8), Granularity.PerTensor, values, 2, 4);
        Assert.NotEmpty(asymmetric.ZeroPoints);
        var quantized = asymmetric.Quantize(values, 2, 4);
        for (int i = 0; i < values.Length; i++) Assert.Equal(values[i], quantized[i], 1);
    }

    [Fact]
    public void Column_scaling_divides_before_the_inner_quantizer_and_stays_divided()
    {
        var values = new float[] { 1, 2, 3, 4 };
        var identity = new IntQuantizer(IntFormat.Symmetric(16), Granularity.PerTensor, [1f / 1024], []);
        var scaled = new ColumnScaledQuantizer([2, 0.5f], identity).Quantize(values, 2, 2);
        Assert.Equal(new[] { 0.5f, 4, 1.5f, 8 }, scaled);
        Assert.Throws<ArgumentException>(() => new ColumnScaledQuantizer([1, 1, 1], identity).Apply(values, 2, 2));
    }

    [Fact]
    public void Quantizers_round_trip_through_json()
    {
        var options = new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
        (TensorQuantizer Quantizer, int Rows, int Cols)[] cases =
        [
            (FpQuantizer.PreShifted(FpFormat.Create(3, 0, 0), -0.7, [0, 2, 7]), 4, 3),
            (IntQuantizer.MinMax(IntFormat.Asymmetric(4), Granularity.PerGroup(2), RandomValues(8, 3), 2, 4), 2, 4),
            (new DynamicIntQuantizer(IntFormat.Int8), 4, 3),
            (new ColumnScaledQuantizer([1, 0.25f, 3], FpQuantizer.PerTensor(FpFormat.Create(2, 1, 0), 1.5)), 4, 3),
        ];
        foreach (var (quantizer, rows, cols) in cases)
        {
            string json = JsonSerializer.Serialize(quantizer, options);
            var back = JsonSerializer.Deserialize<TensorQuantizer>(json, options)!;
            Assert.Equal(quantizer.GetType(), back.GetType());
            Assert.Equal(json, JsonSerializer.Serialize(back, options));
            var values = RandomValues(rows * cols, 4);
            Assert.Equal(quantizer.Quantize(values, rows, cols), back.Quantize(values, rows, cols));
        }
    }

    [Theory]
    [InlineData(GranularityKind.PerTensor)]
    [InlineData(GranularityKind.PerRow)]
    [InlineData(GranularityKind.PerColumn)]
    public void The_chunked_driver_matches_the_matrix_kernel_bit_for_bit(GranularityKind kind)
    {
        const int rows = 2500, cols = 300;
        var values = RandomValues(rows * cols, 5, 4);
        var granularity = new Granularity(kind);
        var random = new Random(6);
        var scales = Enumerable.Range(0, granularity.ScaleCount(rows, cols)).Select(_ => (float)(0.1 + random.NextDouble())).ToArray();
        var format = FpFormat.Create(3, 0, 0);
        var expected = new float[values.Length];
        FakeQuant.QuantizeMatrix(values, rows, cols, format, granularity, scales, expected);
        var actual = new FpQuantizer(format, granularity, scales).Quantize(values, rows, cols);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Shape_mismatches_are_reported()
    {
        var quantizer = FpQuantizer.PerTensor(FpFormat.Create(2, 1, 0), 1);
        var error = Assert.Throws<ArgumentException>(() => quantizer.Apply(new float[5], 2, 3));
        Assert.Contains("[2 × 3]", error.Message);
    }
}
