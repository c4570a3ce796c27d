using System.Text.Json;
using LlmFp4.Kit.Formats;

namespace LlmFp4.Kit.Tests.Formats;

public class FpFormatTests
{
    // Magnitudes of the positive codes 0, 1, 2, ... as the OCP MX / OCP FP8 specs list them (NaN/inf codes excluded).
    public static TheoryData<string, double[]> SpecTables() => new()
    {
        { "E2M1", [0, 0.5, 1, 1.5, 2, 3, 4, 6] },
        { "E2M3", [0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1, 1.125, 1.25, 1.375, 1.5, 1.625, 1.75, 1.875,
                   2, 2.25, 2.5, 2.75, 3, 3.25, 3.5, 3.75, 4, 4.5, 5, 5.5, 6, 6.5, 7, 7.5] },
        { "E3M2", [0, 0.0625, 0.125, 0.1875, 0.25, 0.3125, 0.375, 0.4375, 0.5, 0.625, 0.75, 0.875, 1, 1.25, 1.5, 1.75,
                   2, 2.5, 3, 3.5, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28] },
        { "E4M3", Binades(exponentBits: 4, mantissaBits: 3, minExponent: -6, codes: 127) },
        { "E5M2", Binades(exponentBits: 5, mantissaBits: 2, minExponent: -14, codes: 124) },
    };

    /// <summary>OCP FP8 tables: subnormals k·2^(minExp-m), then 2^E·(1 + k/2^m) binade by binade, first <paramref name="codes"/> codes.</summary>
    private static double[] Binades(int exponentBits, int mantissaBits, int minExponent, int codes)
    {
        var values = new List<double>();
        int perBinade = 1 << mantissaBits;
        for (int k = 0; k < perBinade; k++)
            values.Add(k * Math.Pow(2, minExponent - mantissaBits));
        for (int e = minExponent; values.Count < codes; e++)
            for (int k = 0; k < perBinade && values.Count < codes; k++)
                values.Add(Math.Pow(2, e) * (1 + (double)k / perBinade));
        return [.. values];
    }

    [Theory]
    [MemberData(nameof(SpecTables))]
    public void EveryCodeDecodesToTheSpecValue(string name, double[] magnitudes)
    {
        var format = FpFormat.Parse(name);
        int signBit = 1 << (format.BitWidth - 1);
        for (int code = 0; code < magnitudes.Length; code++)
        {
            Assert.Equal((float)magnitudes[code], format.Decode(code));
            Assert.Equal(-(float)magnitudes[code], format.Decode(code | signBit));
        }
        Assert.Equal(magnitudes, format.Values);
        Assert.Equal(magnitudes[^1], format.MaxValue);
        Assert.Equal(magnitudes[1], format.MinSubnormal);
    }

    [Fact]
    public void SpecAnchors()
    {
        Assert.Equal(6, FpFormat.E2M1.MaxValue);
        Assert.Equal(28, FpFormat.E3M2.MaxValue);
        Assert.Equal(0.0625, FpFormat.E3M2.MinSubnormal);
        Assert.Equal(7.5, FpFormat.E2M3.MaxValue);
        Assert.Equal(448, FpFormat.E4M3.MaxValue);
        Assert.Equal(57344, FpFormat.E5M2.MaxValue);
        Assert.Equal(65504, FpFormat.Half.MaxValue);
        Assert.Equal(Math.Pow(2, -24), FpFormat.Half.MinSubnormal);
        Assert.Equal(Math.ScaleB(255, 120), FpFormat.BFloat16.MaxValue);
        Assert.Throws<InvalidOperationException>(() => FpFormat.Create(2, 1, 0.5).Encode(1f));
        Assert.Equal(float.PositiveInfinity, FpFormat.E5M2.Decode(0x7C));
        Assert.Equal(float.NegativeInfinity, FpFormat.E5M2.Decode(0xFC));
    }

    [Theory]
    [InlineData("E4M3", 0x7F, false)]
    [InlineData("E4M3", 0xFF, true)]
    [InlineData("E5M2", 0x7D, false)]
    [InlineData("E5M2", 0x7F, false)]
    [InlineData("E5M2", 0xFD, true)]
    [InlineData("E5M2", 0xFE, true)]
    [InlineData("Half", 0x7E00, false)]
    [InlineData("Half", 0xFE00, true)]
    public void NanCodesDecodeToNanWithTheCodesSign(string name, int code, bool negative)
    {
        float value = FpFormat.Parse(name).Decode(code);
        Assert.True(float.IsNaN(value));
        Assert.Equal(negative, float.IsNegative(value));
    }

    /// <summary>Half and bfloat16 codes are the bit patterns System.Half and the top half of float32 give meaning to.</summary>
    [Fact]
    public void EveryCodeDecodesWithItsSignAndAsTheIeeeBitPatternSays()
    {
        for (int code = 0; code < 1 << 16; code++)
        {
            float half = (float)BitConverter.UInt16BitsToHalf((ushort)code), bfloat = BitConverter.UInt32BitsToSingle((uint)code << 16);
            foreach (var (format, expected) in new[] { (FpFormat.Half, half), (FpFormat.BFloat16, bfloat) })
            {
                float value = format.Decode(code);
                Assert.Equal(code >= 0x8000, float.IsNegative(value));
                if (float.IsNaN(expected))
                    Assert.True(float.IsNaN(value), $"{format} code 0x{code:X4}");
                else
                    Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(value));
            }
        }
        foreach (var format in new[] { FpFormat.E2M1, FpFormat.E3M2, FpFormat.E2M3, FpFormat.E4M3, FpFormat.E5M2 })
            for (int code = 0; code < 1 << format.BitWidth; code++)
                Assert.Equal(code >> (format.BitWidth - 1) == 1, float.IsNegative(format.Decode(code)));
    }

    public static TheoryData<string> SmallFormats() => ["E2M1", "E1M2", "E3M0", "E2M3", "E3M2", "E4M3", "E5M2", "E0M3(b=0)", "E0M2(b=-1,NanOnly)", "E1M1(b=-2)"];

    [Theory]
    [MemberData(nameof(SmallFormats))]
    public void EveryValueRoundTripsThroughItsCode(string name)
    {
        var format = FpFormat.Parse(name);
        foreach (double magnitude in format.Values)
            foreach (float v in new[] { (float)magnitude, -(float)magnitude })
            {
                Assert.Equal(v, format.Quantize(v));
                Assert.Equal(BitConverter.SingleToInt32Bits(v), BitConverter.SingleToInt32Bits(format.Decode(format.Encode(v))));
            }
        for (int code = 0; code < 1 << format.BitWidth; code++)
        {
            float value = format.Decode(code);
            if (!float.IsNaN(value))
                Assert.Equal(code, format.Encode(value));
        }
    }

    [Theory]
    [MemberData(nameof(SmallFormats))]
    public void MidpointsRoundToTheEvenNeighbour(string name)
    {
        var format = FpFormat.Parse(name);
        var values = format.Values.Select(v => (float)v).ToArray();
        for (int k = 0; k + 1 < values.Length; k++)
        {
            float lower = values[k], upper = values[k + 1], mid = (lower + upper) / 2;
            // roundHalfEven(x / step)·step: the even neighbour is the even multiple of the step between the two. With
            // m ≥ 1 that is the code ending in 0 (an even index, as Values lists every magnitude code in order); with
            // m = 0 a normal tie is 1.5 steps, so it goes up to 2.
            float even = Math.Round(lower / (upper - lower)) % 2 == 0 ? lower : upper;
            if (format.MantissaBits > 0)
                Assert.Equal(k % 2 == 0 ? lower : upper, even);
            foreach (float sign in new[] { 1f, -1f })
            {
                Assert.Equal(sign * even, format.Quantize(sign * mid));
                Assert.Equal(sign * lower, format.Quantize(sign * MathF.BitDecrement(mid)));
                Assert.Equal(sign * upper, format.Quantize(sign * MathF.BitIncrement(mid)));
            }
        }
    }

    [Fact]
    public void SaturatingFormatsClipAndIeeeFormatsOverflow()
    {
        foreach (var format in new[] { FpFormat.E2M1, FpFormat.E1M2, FpFormat.E3M0, FpFormat.E2M3, FpFormat.E3M2, FpFormat.E4M3 })
        {
            float max = (float)format.MaxValue;
            Assert.Equal(max, format.Quantize(max * 1.3f));
            Assert.Equal(max, format.Quantize(float.MaxValue));
            Assert.Equal(max, format.Quantize(float.PositiveInfinity));
            Assert.Equal(-max, format.Quantize(float.NegativeInfinity));
        }
        Assert.Equal(448f, FpFormat.E4M3.Quantize(464f));
        Assert.Equal(57344f, FpFormat.E5M2.Quantize(61439f));
        Assert.Equal(float.PositiveInfinity, FpFormat.E5M2.Quantize(61440f));
        Assert.Equal(float.NegativeInfinity, FpFormat.E5M2.Quantize(-61440f));
        Assert.Equal(float.PositiveInfinity, FpFormat.E5M2.Quantize(float.PositiveInfinity));
        Assert.Equal(0x7C, FpFormat.E5M2.Encode(1e6f));
    }

    [Fact]
    public void ZerosKeepTheirSignAndNanStaysNan()
    {
        foreach (var name in FpFormat.PresetNames.Append("E0M3(b=0)").Append("E2M1(b=0.3)"))
        {
            var format = FpFormat.Parse(name);
            Assert.Equal(0u, BitConverter.SingleToUInt32Bits(format.Quantize(0f)));
            Assert.Equal(0x8000_0000u, BitConverter.SingleToUInt32Bits(format.Quantize(-0f)));
            Assert.Equal(0x8000_0000u, BitConverter.SingleToUInt32Bits(format.Quantize(-float.Epsilon)));
            Assert.True(float.IsNaN(format.Quantize(float.NaN)));
        }
        float positiveNan = BitConverter.UInt32BitsToSingle(0x7FC0_0000), negativeNan = BitConverter.UInt32BitsToSingle(0xFFC0_0000);
        Assert.Equal(0x7F, FpFormat.E4M3.Encode(positiveNan));
        Assert.Equal(0xFF, FpFormat.E4M3.Encode(negativeNan));
        Assert.Equal(0x7E, FpFormat.E5M2.Encode(positiveNan));
        Assert.Equal(0x80, FpFormat.E4M3.Encode(-0f));
        Assert.Throws<ArgumentException>(() => FpFormat.E2M1.Encode(float.NaN));
    }

    [Fact]
    public void E0FormatsAreUniformGrids()
    {
        var format = FpFormat.Create(0, 3, 0);
        Assert.Equal(Enumerable.Range(0, 8).Select(k => k * 0.25), format.Values);
        Assert.Equal(1.75f, format.Quantize(100f));
        Assert.Equal(1.0f, format.Quantize(1.1f));
        Assert.Equal(1.75, FpFormat.FromMaxValue(0, 3, 1.75).MaxValue, 12);
    }

    [Fact]
    public void FromMaxValueFollowsTheLlmFp4Relation()
    {
        Assert.Equal(FpFormat.E2M1, FpFormat.FromMaxValue(2, 1, 6));
        Assert.Equal(FpFormat.Create(3, 2, 3), FpFormat.FromMaxValue(3, 2, 28));
        foreach (var (e, m, max) in new[] { (2, 1, 0.37), (3, 0, 11.0), (1, 2, 1e-3), (4, 3, 1234.5) })
        {
            var format = FpFormat.FromMaxValue(e, m, max);
            double paperBias = Math.Pow(2, e) - Math.Log2(max) + Math.Log2(2 - Math.Pow(2, -m)) - 1;
            Assert.Equal(paperBias, format.Bias, 12);
            Assert.Equal(max, format.MaxValue, max * 1e-12);
            Assert.Equal((float)max, format.Quantize(1e9f), (float)max * 1e-6f);
        }
    }

    [Fact]
    public void ArgumentsOutOfRangeNameTheParameter()
    {
        Assert.Equal("exponentBits", Assert.Throws<ArgumentOutOfRangeException>(() => FpFormat.Create(9, 1, 1)).ParamName);
        Assert.Equal("exponentBits", Assert.Throws<ArgumentOutOfRangeException>(() => FpFormat.Create(-1, 1, 1)).ParamName);
        Assert.Equal("mantissaBits", Assert.Throws<ArgumentOutOfRangeException>(() => FpFormat.Create(2, 24, 1)).ParamName);
        Assert.Equal("bias", Assert.Throws<ArgumentOutOfRangeException>(() => FpFormat.Create(2, 1, double.NaN)).ParamName);
        Assert.Equal("maxValue", Assert.Throws<ArgumentOutOfRangeException>(() => FpFormat.FromMaxValue(2, 1, 0)).ParamName);
        Assert.Throws<ArgumentException>(() => FpFormat.Create(0, 0, 0));
        Assert.Throws<ArgumentException>(() => FpFormat.Create(3, 0, 3, SpecialValues.Ieee));
        Assert.Throws<ArgumentOutOfRangeException>(() => FpFormat.E2M1.Decode(16));
        Assert.Throws<InvalidOperationException>(() => FpFormat.Create(8, 23, 127).Values);
    }

    [Fact]
    public void ParseAcceptsPresetsAndToStringAndListsPresetsOnError()
    {
        Assert.Same(FpFormat.BFloat16, FpFormat.Parse("bfloat16"));
        Assert.Same(FpFormat.E2M1, FpFormat.Parse(" e2m1 "));
        foreach (var name in FpFormat.PresetNames)
            Assert.Equal(FpFormat.Parse(name), FpFormat.Parse(FpFormat.Parse(name).ToString()));
        Assert.Equal("E2M1(b=1)", FpFormat.E2M1.ToString());
        Assert.Equal("E4M3(b=7,NanOnly)", FpFormat.E4M3.ToString());
        Assert.Equal("E2M1(b=0.7)", FpFormat.Create(2, 1, 0.7).ToString());
        var error = Assert.Throws<ArgumentException>(() => FpFormat.Parse("E9M9"));
        Assert.Contains("E2M1, E1M2, E3M0, E2M3, E3M2, E4M3, E5M2, Half, BFloat16", error.Message);
    }

    [Fact]
    public void FormatsSerialiseAsTheirName()
    {
        var json = JsonSerializer.Serialize(new[] { FpFormat.E4M3, FpFormat.Create(2, 1, 0.7) });
        Assert.Equal("[\"E4M3(b=7,NanOnly)\",\"E2M1(b=0.7)\"]", json);
        Assert.Equal([FpFormat.E4M3, FpFormat.Create(2, 1, 0.7)], JsonSerializer.Deserialize<FpFormat[]>(json)!);
    }

    [Fact]
    public void BiasIsAScale()
    {
        var shifted = FpFormat.E2M1.WithBias(-0.4);
        float s = (float)FpFormat.E2M1.ScaleForBias(-0.4);
        var random = new Random(3);
        for (int i = 0; i < 2000; i++)
        {
            float x = (float)((random.NextDouble() * 2 - 1) * 30);
            Assert.Equal(shifted.Quantize(x), FpFormat.E2M1.Quantize(x / s) * s, Math.Abs(x) * 1e-6f);
        }
    }
}
