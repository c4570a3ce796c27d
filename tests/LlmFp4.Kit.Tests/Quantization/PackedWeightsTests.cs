using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;
using LlmFp4.Kit.Tests.Calibration;

namespace LlmFp4.Kit.Tests.Quantization;

public class PackedWeightsTests
{
    private static float[] Random(int count, int seed, double scale = 1)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale))];
    }

    private static byte[] RandomCodes(int count, int seed, int limit)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => (byte)random.Next(limit))];
    }

    [Fact]
    public void Every_fp6_code_round_trips_and_decodes_to_its_e3m2_value()
    {
        var codes = Enumerable.Range(0, 64).Select(c => (byte)c).ToArray();
        float[] scales = [1f, 0.37f];
        var packed = PackedFp6Matrix.FromCodes(codes, 2, 32, scales);
        Assert.Equal(codes, packed.Codes());
        Assert.Equal(2 * 24 + 2 * 4, packed.ResidentBytes);
        var vectorized = new float[64];
        var scalar = new float[64];
        packed.DecodeRows(0, 2, vectorized);
        packed.DecodeRows(0, 2, scalar, vectorized: false);
        for (int c = 0; c < 64; c++)
        {
            float expected = scales[c / 32] * FpFormat.E3M2.Decode(c);
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(vectorized[c]));
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(scalar[c]));
        }
        Assert.Equal(28f, vectorized[31]);
        Assert.Equal(0.0625f, vectorized[1]);
        Assert.Equal(-28f * 0.37f, vectorized[63]);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 5)]
    [InlineData(7, 33)]
    [InlineData(5, 70)]
    [InlineData(2, 96)]
    public void Odd_shapes_pack_and_decode_the_same_with_and_without_simd(int rows, int cols)
    {
        var codes = RandomCodes(rows * cols, rows * 100 + cols, 64);
        var scales = Random(rows, cols).Select(MathF.Abs).ToArray();
        var fp6 = PackedFp6Matrix.FromCodes(codes, rows, cols, scales);
        Assert.Equal(codes, fp6.Codes());
        var a = new float[rows * cols];
        var b = new float[rows * cols];
        fp6.DecodeRows(0, rows, a);
        fp6.DecodeRows(0, rows, b, vectorized: false);
        Assert.Equal(a, b);
        Assert.Equal(rows * ((cols + 31) / 32) * 24 + 4 * rows, fp6.ResidentBytes);

        var int4 = PackedInt4Matrix.Quantize(Random(rows * cols, cols), rows, cols, groupSize: 32, symmetric: cols % 2 == 0);
        var c = new float[rows * cols];
        var d = new float[rows * cols];
        int4.DecodeRows(0, rows, c);
        int4.DecodeRows(0, rows, d, vectorized: false);
        Assert.Equal(c, d);
        if (rows > 1)
        {
            var second = new float[cols];
            fp6.DecodeRows(1, 1, second);
            Assert.Equal(a.AsSpan(cols, cols).ToArray(), second);
        }
    }

    [Fact]
    public void Simd_block_decoders_agree_with_the_scalar_references_bit_for_bit()
    {
        int blocks = 5;
        var fourBit = RandomCodes(blocks * 16, 1, 256);
        var twoBit = RandomCodes(blocks * 8, 2, 256);
        var a = new float[blocks * 32];
        var b = new float[blocks * 32];
        // Negative, zero and subnormal scales too: the SIMD path flips the sign after scaling.
        foreach (float scale in new[] { 0.731f, -0.731f, 0f, 1e-40f })
        {
            PackedCodes.DecodeFp6Blocks(fourBit, twoBit, scale, a);
            PackedCodes.DecodeFp6BlocksScalar(fourBit, twoBit, scale, b);
            Assert.Equal(a.Select(BitConverter.SingleToInt32Bits), b.Select(BitConverter.SingleToInt32Bits));
        }
        Assert.Throws<ArgumentException>(() => PackedCodes.DecodeFp6Blocks(fourBit, twoBit, 1, new float[31]));
        Assert.Throws<ArgumentException>(() => PackedCodes.DecodeFp6Blocks(fourBit, twoBit[..8], 1, new float[64]));
    }

    [Theory]
    [InlineData(1, 1, 0, 1)]
    [InlineData(16, 64, 0, 16)]
    [InlineData(37, 70, 0, 37)]
    [InlineData(37, 70, 5, 27)]
    [InlineData(48, 96, 16, 32)]
    [InlineData(150, 33, 128, 22)]
    public void Decoded_columns_are_the_decoded_rows_transposed_with_and_without_simd(int rows, int cols, int first, int count)
    {
        var weight = Random(rows * cols, rows + cols);
        int stride = count + 3;
        foreach (IPackedMatrix packed in new IPackedMatrix[]
        {
            PackedFp6Matrix.Quantize(weight, rows, cols),
            PackedInt4Matrix.Quantize(weight, rows, cols, cols % 32 == 0 ? 32 : cols, symmetric: true),
            PackedInt4Matrix.Quantize(weight, rows, cols, cols, symmetric: false),
        })
        {
            var decoded = new float[count * cols];
            packed.DecodeRows(first, count, decoded);
            var columns = Enumerable.Repeat(float.NaN, (cols - 1) * stride + count).ToArray();
            packed.DecodeColumns(first, count, columns, stride);
            for (int r = 0; r < count; r++)
                for (int k = 0; k < cols; k++)
                    Assert.Equal(BitConverter.SingleToInt32Bits(decoded[r * cols + k]), BitConverter.SingleToInt32Bits(columns[k * stride + r]));
            if (packed is PackedInt4Matrix int4)
            {
                var scalar = Enumerable.Repeat(float.NaN, columns.Length).ToArray();
                int4.DecodeColumns(first, count, scalar, stride, vectorized: false);
                Assert.Equal(columns.Select(BitConverter.SingleToInt32Bits), scalar.Select(BitConverter.SingleToInt32Bits));
            }
            Assert.Throws<ArgumentException>(() => packed.DecodeColumns(first, count, columns, count - 1));
            Assert.Throws<ArgumentOutOfRangeException>(() => packed.DecodeColumns(first + 1, rows - first, new float[rows * cols], rows));
        }
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(16, 16, 16)]
    [InlineData(37, 70, 40)]
    [InlineData(48, 96, 48)]
    public void Tile_transpose_moves_every_value_as_the_scalar_definition(int rows, int cols, int stride)
    {
        var source = Random(rows * cols, rows * cols);
        var fast = Enumerable.Repeat(float.NaN, (cols - 1) * stride + rows).ToArray();
        var scalar = (float[])fast.Clone();
        PackedWeights.Transpose(source, rows, cols, fast, stride);
        PackedWeights.TransposeScalar(source, rows, cols, scalar, stride);
        Assert.Equal(scalar.Select(BitConverter.SingleToInt32Bits), fast.Select(BitConverter.SingleToInt32Bits));
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                Assert.Equal(source[r * cols + c], fast[c * stride + r]);
    }

    [Fact]
    public void Fp6_quantize_matches_fake_quant_with_scale_max_over_28()
    {
        int rows = 6, cols = 40;
        var weight = Random(rows * cols, 3, 0.2);
        weight[5] = 3f;
        var packed = PackedFp6Matrix.Quantize(weight, rows, cols);
        var decoded = PackedMatMul.Decode(packed);
        for (int r = 0; r < rows; r++)
        {
            var row = weight.AsSpan(r * cols, cols);
            float scale = MathF.Abs(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(row)) / 28f;
            Assert.Equal(scale, packed.Scales[r]);
            var expected = new float[cols];
            FakeQuant.Quantize(row, FpFormat.E3M2, scale, expected);
            Assert.Equal(expected, decoded.AsSpan(r * cols, cols).ToArray());
        }
        Assert.Equal(3f, decoded[5]);
        Assert.Throws<ArgumentException>(() => PackedFp6Matrix.Quantize([1f, float.NaN], 1, 2));
        Assert.Throws<ArgumentException>(() => PackedFp6Matrix.Quantize([1f, 2f, 3f], 2, 2));
    }

    [Fact]
    public void Int4_packing_matches_the_fake_quant_grid_and_rejects_what_it_cannot_hold()
    {
        int rows = 4, cols = 70;
        var weight = Random(rows * cols, 9);
        foreach (bool symmetric in new[] { true, false })
        {
            var grid = IntQuantizer.MinMax(symmetric ? IntFormat.Symmetric(4) : IntFormat.Asymmetric(4), Granularity.PerGroup(32), weight, rows, cols);
            var expected = grid.Quantize(weight, rows, cols);
            var packed = PackedInt4Matrix.FromQuantized(expected, rows, cols, grid);
            Assert.Equal(expected, PackedMatMul.Decode(packed));
            // Rows padded to one strip of 16, 35 pairs of columns, and a 4-byte scale and a zero-point byte per (row, group).
            Assert.Equal(16 * 35 + 16 * 3 * 5, packed.ResidentBytes);
        }
        var badGroup = IntQuantizer.MinMax(IntFormat.Symmetric(4), Granularity.PerGroup(48), weight, rows, cols);
        Assert.Contains("multiple of 32", Assert.Throws<ArgumentException>(() => PackedInt4Matrix.FromQuantized(badGroup.Quantize(weight, rows, cols), rows, cols, badGroup)).Message);
        var good = IntQuantizer.MinMax(IntFormat.Symmetric(4), Granularity.PerGroup(32), weight, rows, cols);
        var offGrid = good.Quantize(weight, rows, cols);
        offGrid[3] += 1e-3f;
        Assert.Throws<InvalidDataException>(() => PackedInt4Matrix.FromQuantized(offGrid, rows, cols, good));
        var fpGrid = (FpQuantizer)MinMax.ForMatrix(QuantSpec.Fp(6, Granularity.PerRow) with { ExponentBits = 3 }, weight, rows, cols);
        var fpOff = fpGrid.Quantize(weight, rows, cols);
        fpOff[0] *= 1.0001f;
        Assert.Throws<InvalidDataException>(() => PackedWeights.FromQuantized(fpOff, rows, cols, fpGrid, "w"));
    }

    [Theory]
    [InlineData(1, 96)]
    [InlineData(7, 96)]
    [InlineData(9, 96)]
    [InlineData(3, 1000)]
    [InlineData(9, 1000)]
    public void Packed_layer_output_equals_fake_quant_weights_times_x(int tokens, int inFeatures)
    {
        // 150 rows: two tiles of 128 rows on both paths (decoded in parallel below 8 tokens, one after another in parallel
        // slices from 8 on); either way each tile goes through the GEMM, so the output is the product with the decoded matrix bit for bit.
        int outFeatures = 150;
        var weight = Random(inFeatures * outFeatures, 4, 0.1);
        var input = Random(tokens * inFeatures, 5);
        foreach (IPackedMatrix packed in new IPackedMatrix[] { PackedFp6Matrix.Quantize(weight, outFeatures, inFeatures), PackedInt4Matrix.Quantize(weight, outFeatures, inFeatures, 32) })
        {
            var fakeQuant = PackedMatMul.Decode(packed);
            var reference = new float[tokens * outFeatures];
            new NaiveGemm().MatMul(input, fakeQuant, reference, tokens, outFeatures, inFeatures, transposeA: false, transposeB: true, alpha: 1, beta: 0);
            var layer = new LinearLayer("test", inFeatures, outFeatures, (float[])weight.Clone()) { PackedWeight = packed };
            Assert.Equal(packed.ResidentBytes, layer.WeightBytes);
            Assert.Equal(fakeQuant, layer.Weight);
            var output = new float[tokens * outFeatures];
            layer.Forward(input, output, tokens, []);
            for (int i = 0; i < output.Length; i++) Assert.Equal(reference[i], output[i], 1e-5);
            var product = new float[tokens * outFeatures];
            Gemm.MatMul(input, fakeQuant, product, tokens, outFeatures, inFeatures, transposeB: true);
            Assert.Equal(product, output);
            layer.PackedWeight = null;
            Assert.Equal(fakeQuant, layer.Weight);
        }
        Assert.Throws<ArgumentException>(() => new LinearLayer("bad", 8, 8, new float[64]) { PackedWeight = PackedFp6Matrix.Quantize(weight, outFeatures, inFeatures) });
    }

    [Theory]
    [InlineData("fp6-w6a16")]
    [InlineData("int4-w4a16")]
    [InlineData("int4-gptq-w4a16")]
    public void Packed_presets_run_the_model_from_packed_weights(string preset)
    {
        var model = CalibrationTestData.TinyModel();
        var set = CalibrationTestData.TinySet();
        var config = QuantPresets.Get(preset);
        var result = Calibrator.Run(model, config, set);
        var packed = model.Clone();
        result.Apply(packed);
        var fakeQuant = model.Clone();
        new CalibrationResult
        {
            Config = config with { PackWeights = false },
            Model = result.Model,
            Layers = result.Layers,
            Tensors = result.Tensors,
        }.Apply(fakeQuant);
        Assert.All(packed.Linears.Where(l => l.Name != "lm_head"), l => Assert.NotNull(l.PackedWeight));
        Assert.Null(packed.LmHead.PackedWeight);
        Assert.True(packed.Linears.Sum(l => l.WeightBytes) < fakeQuant.Linears.Sum(l => l.WeightBytes));
        var expected = CalibrationTestData.Logits(fakeQuant, set);
        var actual = CalibrationTestData.Logits(packed, set);
        Assert.InRange(CalibrationTestData.RelativeError(expected, actual), 0, 1e-5);
        Assert.InRange(CalibrationTestData.RelativeError(CalibrationTestData.Logits(model, set), actual), 1e-5, 0.5);
    }
}
