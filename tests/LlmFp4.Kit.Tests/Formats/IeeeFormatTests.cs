using LlmFp4.Kit.Formats;

namespace LlmFp4.Kit.Tests.Formats;

public class IeeeFormatTests
{
    private static readonly float[] EdgeCases =
    [
        0f, -0f, float.Epsilon, -float.Epsilon, float.MaxValue, float.MinValue, float.PositiveInfinity, float.NegativeInfinity, float.NaN,
        1f, -1f, 65504f, 65519.99f, 65520f, -65520f, 65536f, 6.1035156e-05f, 6.0975552e-05f, 5.9604645e-08f, 2.9802322e-08f,
        2.9802326e-08f, 8.940697e-08f, 1.0009766f, 1.0004883f, 1.0014648f, 2048.5f, 2049f, 2051f, 1e-30f, 1e30f,
        BitConverter.UInt32BitsToSingle(0x0080_0000), BitConverter.UInt32BitsToSingle(0x007F_FFFF), BitConverter.UInt32BitsToSingle(0x7F7F_8000),
        BitConverter.UInt32BitsToSingle(0x7F7F_7FFF), BitConverter.UInt32BitsToSingle(0x3F80_8000), BitConverter.UInt32BitsToSingle(0x3F81_8000),
    ];

    /// <summary>Random bit patterns cover every exponent of float32, NaNs and subnormals included.</summary>
    private static float[] RandomFloats(int count, int seed)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++)
            values[i] = BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32));
        return values;
    }

    private static void AssertSameBits(float expected, float actual, float input)
    {
        if (float.IsNaN(expected))
            Assert.True(float.IsNaN(actual), $"input {input:R}: expected NaN, got {actual:R}");
        else
            Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual), $"input {input:R} (0x{BitConverter.SingleToUInt32Bits(input):X8}): expected {expected:R}, got {actual:R}");
    }

    [Fact]
    public void HalfMatchesSystemHalfOnEdgeCases()
    {
        foreach (float x in EdgeCases)
        {
            AssertSameBits((float)(Half)x, FpFormat.Half.Quantize(x), x);
            AssertSameBits((float)(Half)x, FpFormat.Half.RoundToGridExact(x), x);
        }
    }

    [Fact]
    public void HalfMatchesSystemHalfOnAMillionRandomFloats()
    {
        var x = RandomFloats(1 << 20, seed: 1);
        var quantized = new float[x.Length];
        FpFormat.Half.Quantize(x, quantized);
        for (int i = 0; i < x.Length; i++)
            AssertSameBits((float)(Half)x[i], quantized[i], x[i]);
        for (int i = 0; i < x.Length; i += 97)
            AssertSameBits(quantized[i], FpFormat.Half.Quantize(x[i]), x[i]);
    }

    /// <summary>bfloat16 by bit manipulation: keep the top 16 bits, round half to even on the dropped 16.</summary>
    private static float ReferenceBFloat16(float x)
    {
        if (float.IsNaN(x))
            return x;
        uint bits = BitConverter.SingleToUInt32Bits(x);
        bits += 0x7FFFu + ((bits >> 16) & 1u);
        return BitConverter.UInt32BitsToSingle(bits & 0xFFFF_0000u);
    }

    [Fact]
    public void BFloat16MatchesTheBitReference()
    {
        var x = RandomFloats(1 << 20, seed: 2).Concat(EdgeCases).ToArray();
        var quantized = new float[x.Length];
        FpFormat.BFloat16.Quantize(x, quantized);
        for (int i = 0; i < x.Length; i++)
            AssertSameBits(ReferenceBFloat16(x[i]), quantized[i], x[i]);
        foreach (float e in EdgeCases)
            AssertSameBits(ReferenceBFloat16(e), FpFormat.BFloat16.RoundToGridExact(e), e);
    }

    /// <summary>
    /// tests/golden/fp8_torch.bin (made by make_fp8_golden.py beside it): PyTorch's float8_e4m3fn and float8_e5m2
    /// casts of random floats, grid midpoints and specials. E4M3: the kit saturates where torch gives NaN, so only
    /// in-range inputs (|x| below 464, where torch starts returning NaN) are compared.
    /// </summary>
    [Fact]
    public void Fp8CodesMatchPyTorch()
    {
        using var reader = new BinaryReader(File.OpenRead(GoldenPath("fp8_torch.bin")));
        int count = reader.ReadInt32();
        var inputs = new float[count];
        for (int i = 0; i < count; i++)
            inputs[i] = reader.ReadSingle();
        var e4m3 = reader.ReadBytes(count);
        var e5m2 = reader.ReadBytes(count);
        int compared = 0;
        for (int i = 0; i < count; i++)
        {
            float x = inputs[i];
            if (float.IsNaN(x))
                continue;
            Assert.True(e5m2[i] == FpFormat.E5M2.Encode(x), $"E5M2 of {x:R}: torch 0x{e5m2[i]:X2}, kit 0x{FpFormat.E5M2.Encode(x):X2}");
            if (MathF.Abs(x) < 464f)
            {
                Assert.True(e4m3[i] == FpFormat.E4M3.Encode(x), $"E4M3 of {x:R}: torch 0x{e4m3[i]:X2}, kit 0x{FpFormat.E4M3.Encode(x):X2}");
                compared++;
            }
        }
        Assert.True(compared > 10_000);
    }

    internal static string GoldenPath(string file)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "golden", file);
            if (File.Exists(candidate))
                return candidate;
        }
        throw new FileNotFoundException($"tests/golden/{file} not found above {AppContext.BaseDirectory}.");
    }
}
