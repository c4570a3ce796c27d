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

    [Fact]
    public void An_fp_quantizer_saves_its_exponent_biases_and_derives_the_scales()
    {
        var options = new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
        var perRow = FpQuantizer.PerRow(FpFormat.Create(2, 1, 0), [1.5, -0.25]);
        Assert.Equal("""{"type":"fp","format":"E2M1","granularity":{"kind":"PerRow","group_size":0},"biases":[1.5,-0.25]}""",
            JsonSerializer.Serialize<TensorQuantizer>(perRow, options));
        Assert.Equal(new[] { MathF.Pow(2, -1.5f), MathF.Pow(2, 0.25f) }, perRow.Scales);
        var preShifted = FpQuantizer.PreShifted(FpFormat.Create(2, 1, 0), 0.5, [0, 2]);
        Assert.Equal("""{"type":"fp","format":"E2M1","granularity":{"kind":"PerColumn","group_size":0},"biases":[0.5],"offsets":[0,2]}""",
            JsonSerializer.Serialize<TensorQuantizer>(preShifted, options));

        // A format's own bias is not a second one: the quantizer holds the bias-0 format and the bias given.
        var fromBiased = FpQuantizer.PerTensor(FpFormat.E2M1, 1.25);
        Assert.Equal(FpFormat.Create(2, 1, 0), fromBiased.Format);
        Assert.Equal(FpQuantizer.PerTensor(FpFormat.Create(2, 1, 0), 1.25).Scales, fromBiased.Scales);

        Assert.Throws<ArgumentException>(() => FpQuantizer.PerTensor(FpFormat.E2M1, double.PositiveInfinity));
        Assert.Throws<ArgumentException>(() => new FpQuantizer(FpFormat.E2M1, Granularity.PerTensor, [1, 2]));
        Assert.Throws<ArgumentException>(() => new FpQuantizer(FpFormat.E2M1, Granularity.PerRow, [1], [0]));
        Assert.Throws<ArgumentException>(() => FpQuantizer.PreShifted(FpFormat.E2M1, 1, [0, -1]));
        var error = Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<TensorQuantizer>(
            """{"type":"fp","format":"E2M1(b=0)","granularity":{"kind":"PerTensor","group_size":0},"biases":[1]}""", options));
        Assert.Contains("E2M1(b=0)", error.Message);
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
        var biases = Enumerable.Range(0, granularity.ScaleCount(rows, cols)).Select(_ => random.NextDouble() * 4 - 1).ToArray();
        var format = FpFormat.Create(3, 0, 0);
        var quantizer = new FpQuantizer(format, granularity, biases);
        var expected = new float[values.Length];
        FakeQuant.QuantizeMatrix(values, rows, cols, format, granularity, quantizer.Scales, expected);
        var actual = quantizer.Quantize(values, rows, cols);
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
