using LlmFp4.Kit.Models.Loading;

namespace LlmFp4.Kit.Tests.Loading;

public class DTypeTests
{
    [Fact]
    public void F16WideningMatchesScalarHalfForEveryBitPattern()
    {
        var bytes = new byte[65536 * 2];
        for (int i = 0; i < 65536; i++) BitConverter.TryWriteBytes(bytes.AsSpan(2 * i), (ushort)i);
        var floats = new float[65536];
        DTypes.ToFloat32(bytes, DType.F16, floats);
        for (int i = 0; i < 65536; i++)
            Assert.Equal(BitConverter.SingleToUInt32Bits((float)BitConverter.UInt16BitsToHalf((ushort)i)), BitConverter.SingleToUInt32Bits(floats[i]));
    }

    [Fact]
    public void Bf16IsTheHighHalfOfFloat32AndRoundTripsExactly()
    {
        var bits = Enumerable.Range(0, 65536).Select(i => (ushort)i).ToArray();
        var floats = new float[bits.Length];
        DTypes.Bf16ToFloat32(bits, floats);
        for (int i = 0; i < bits.Length; i++)
        {
            Assert.Equal((uint)i << 16, BitConverter.SingleToUInt32Bits(floats[i]));
            if (!float.IsNaN(floats[i])) Assert.Equal(bits[i], DTypes.Float32ToBf16(floats[i]));
        }
    }

    [Theory]
    [InlineData(0x3F808000u, (ushort)0x3F80)] // tie, even below: stays
    [InlineData(0x3F818000u, (ushort)0x3F82)] // tie, odd below: rounds up to even
    [InlineData(0x3F808001u, (ushort)0x3F81)] // above the tie: rounds up
    [InlineData(0x7F7FFFFFu, (ushort)0x7F80)] // float max rounds to infinity
    [InlineData(0xFFC00001u, (ushort)0xFFC0)] // NaN keeps sign and stays NaN
    [InlineData(0x7F800001u, (ushort)0x7FC0)] // signalling NaN becomes quiet, not infinity
    public void Bf16NarrowingRoundsToNearestEven(uint input, ushort expected) =>
        Assert.Equal(expected, DTypes.Float32ToBf16(BitConverter.UInt32BitsToSingle(input)));

    [Fact]
    public void F16NarrowingMatchesHalfCast()
    {
        float[] values = [1f / 3, 65504f, 65520f, 1e-8f, -2.5e-5f, float.NaN, float.NegativeInfinity];
        var bytes = new byte[values.Length * 2];
        DTypes.FromFloat32(values, DType.F16, bytes);
        for (int i = 0; i < values.Length; i++)
            Assert.Equal(BitConverter.HalfToUInt16Bits((Half)values[i]), BitConverter.ToUInt16(bytes, 2 * i));
    }

    [Fact]
    public void LengthMismatchIsAnArgumentError() =>
        Assert.Throws<ArgumentException>(() => DTypes.ToFloat32(new byte[6], DType.F32, new float[2]));
}
