using System.Runtime.InteropServices;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmFp4.Kit.Formats;

/// <summary>
/// Bit-plane storage of 6-bit FP6 E3M2 codes (the "4+2" layout of ZeroQuant(4+2) / FP6-LLM, docs/methods.md §9), with
/// decoders to float32. Codes are stored in blocks of <see cref="BlockCodes"/> = 32:
/// <list type="bullet">
/// <item>4-bit plane, 16 bytes per block: byte i holds the low 4 bits of code i (bits 0–3) and of code i + 16 (bits 4–7).</item>
/// <item>2-bit plane, 8 bytes per block: byte i holds the high 2 bits of codes i, i + 8, i + 16, i + 24 in
/// bits 0–1, 2–3, 4–5, 6–7.</item>
/// </list>
/// So a block takes 24 bytes (0.75 byte per code: M·K/4 + M·K/2 bytes for an M × K matrix).
/// This order lets the decoder split the planes with a few whole-register shifts and masks. FP6 codes are
/// sign (bit 5), exponent (bits 2–4), mantissa (bits 0–1) with bias 3, every code finite (<see cref="FpFormat.E3M2"/>).
/// </summary>
public static class PackedCodes
{
    /// <summary>Codes per block: 32.</summary>
    public const int BlockCodes = 32;
    /// <summary>Bytes of one FP6 block: 16 in the 4-bit plane plus 8 in the 2-bit plane.</summary>
    public const int Fp6BlockBytes = 24;
    /// <summary>Bytes of one block's 4-bit plane.</summary>
    public const int FourBitBlockBytes = 16;
    /// <summary>Bytes of one block's 2-bit plane.</summary>
    public const int TwoBitBlockBytes = 8;

    /// <summary>Whether <see cref="DecodeFp6Blocks"/> uses AVX-512 here (else the scalar reference).</summary>
    public static bool IsVectorized => Avx512F.IsSupported;

    /// <summary>The E3M2 value of every 6-bit code, from <see cref="FpFormat.Decode"/>: the scalar reference table.</summary>
    private static readonly float[] Fp6Values = [.. Enumerable.Range(0, 64).Select(FpFormat.E3M2.Decode)];

    /// <summary>The float32 value of FP6 E3M2 code <paramref name="code"/> (0..63).</summary>
    public static float Fp6Value(int code) => Fp6Values[code];

    /// <summary>Packs 32 FP6 codes (each 0..63) into a 16-byte 4-bit plane block and an 8-byte 2-bit plane block.</summary>
    /// <exception cref="ArgumentException">Wrong lengths or a code above 63.</exception>
    public static void PackFp6Block(ReadOnlySpan<byte> codes, Span<byte> fourBit, Span<byte> twoBit)
    {
        if (codes.Length != BlockCodes || fourBit.Length != FourBitBlockBytes || twoBit.Length != TwoBitBlockBytes)
            throw new ArgumentException($"PackFp6Block: need {BlockCodes} codes, {FourBitBlockBytes} + {TwoBitBlockBytes} bytes.");
        for (int i = 0; i < BlockCodes; i++)
            if (codes[i] > 63) throw new ArgumentException($"PackFp6Block: code {codes[i]} at {i} does not fit 6 bits.");
        for (int i = 0; i < 16; i++) fourBit[i] = (byte)((codes[i] & 15) | (codes[i + 16] & 15) << 4);
        for (int i = 0; i < 8; i++)
            twoBit[i] = (byte)(codes[i] >> 4 | (codes[i + 8] >> 4) << 2 | (codes[i + 16] >> 4) << 4 | (codes[i + 24] >> 4) << 6);
    }

    /// <summary>The 32 codes of one FP6 block (inverse of <see cref="PackFp6Block"/>), scalar.</summary>
    public static void UnpackFp6Block(ReadOnlySpan<byte> fourBit, ReadOnlySpan<byte> twoBit, Span<byte> codes)
    {
        for (int i = 0; i < BlockCodes; i++)
        {
            int low = i < 16 ? fourBit[i] & 15 : fourBit[i - 16] >> 4;
            int high = (twoBit[i % 8] >> (2 * (i / 8))) & 3;
            codes[i] = (byte)(high << 4 | low);
        }
    }

    /// <summary>
    /// destination[i] = scale · E3M2(code i) for the codes of destination.Length / 32 consecutive blocks (float32 product,
    /// round to nearest even, so the result equals <c>scale · FpFormat.E3M2.Decode(code)</c> bit for bit for any finite
    /// scale). AVX-512 where available: the codes are put together from the planes in 32-bit lanes and looked up in a
    /// 32-entry table of scale · magnitude with one two-register permute; otherwise <see cref="DecodeFp6BlocksScalar"/>.
    /// </summary>
    /// <exception cref="ArgumentException">destination not whole blocks, or planes shorter than its blocks need.</exception>
    public static void DecodeFp6Blocks(ReadOnlySpan<byte> fourBit, ReadOnlySpan<byte> twoBit, float scale, Span<float> destination)
    {
        int blocks = CheckBlocks(destination.Length, fourBit.Length, twoBit.Length, "DecodeFp6Blocks");
        if (!Avx512F.IsSupported)
        {
            DecodeFp6BlocksScalar(fourBit, twoBit, scale, destination);
            return;
        }
        ref byte four = ref MemoryMarshal.GetReference(fourBit);
        ref byte two = ref MemoryMarshal.GetReference(twoBit);
        ref float target = ref MemoryMarshal.GetReference(destination);
        var three = Vector512.Create(3u);
        var fifteen = Vector512.Create(15);
        // scale · E3M2 value of the 32 magnitudes, as two 16-lane tables: one two-table permute decodes 16 codes.
        var scales = Vector512.Create(scale);
        var lowTable = Vector512.Create(new ReadOnlySpan<float>(Fp6Values, 0, 16)) * scales;
        var highTable = Vector512.Create(new ReadOnlySpan<float>(Fp6Values, 16, 16)) * scales;
        var firstShifts = Vector512.Create(0u, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
        var secondShifts = Vector512.Create(4u, 4, 4, 4, 4, 4, 4, 4, 6, 6, 6, 6, 6, 6, 6, 6);
        for (int b = 0; b < blocks; b++)
        {
            // Widened to 32-bit lanes: lane i holds nibble byte i and 2-bit byte i % 8; codes 0..15 take their high bits
            // from bits 0–1 (codes 0..7) and 2–3 (8..15) of the 2-bit bytes, codes 16..31 from bits 4–5 and 6–7.
            var nibbles = Avx512F.ConvertToVector512Int32(Vector128.LoadUnsafe(ref four, (nuint)(b * FourBitBlockBytes)));
            ulong planeBits = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref two, b * TwoBitBlockBytes));
            var high = Avx512F.ConvertToVector512Int32(Vector128.Create(planeBits, planeBits).AsByte()).AsUInt32();
            var firstHigh = Avx512F.ShiftRightLogicalVariable(high, firstShifts) & three;
            var secondHigh = Avx512F.ShiftRightLogicalVariable(high, secondShifts) & three;
            DecodeFp6((firstHigh.AsInt32() << 4) | (nibbles & fifteen), lowTable, highTable).StoreUnsafe(ref target, (nuint)(b * BlockCodes));
            DecodeFp6((secondHigh.AsInt32() << 4) | ((nibbles >> 4) & fifteen), lowTable, highTable).StoreUnsafe(ref target, (nuint)(b * BlockCodes + 16));
        }
    }

    /// <summary>Scalar reference of <see cref="DecodeFp6Blocks"/>: unpack each block, look the codes up in the E3M2 table, multiply.</summary>
    public static void DecodeFp6BlocksScalar(ReadOnlySpan<byte> fourBit, ReadOnlySpan<byte> twoBit, float scale, Span<float> destination)
    {
        int blocks = CheckBlocks(destination.Length, fourBit.Length, twoBit.Length, "DecodeFp6BlocksScalar");
        Span<byte> codes = stackalloc byte[BlockCodes];
        for (int b = 0; b < blocks; b++)
        {
            UnpackFp6Block(fourBit.Slice(b * FourBitBlockBytes, FourBitBlockBytes), twoBit.Slice(b * TwoBitBlockBytes, TwoBitBlockBytes), codes);
            for (int i = 0; i < BlockCodes; i++) destination[b * BlockCodes + i] = scale * Fp6Values[codes[i]];
        }
    }

    private static int CheckBlocks(int destinationLength, int fourBitLength, int twoBitLength, string what)
    {
        int blocks = destinationLength / BlockCodes;
        if (destinationLength % BlockCodes != 0 || fourBitLength < blocks * FourBitBlockBytes || twoBitLength < blocks * TwoBitBlockBytes)
            throw new ArgumentException($"{what}: {destinationLength} floats is not whole blocks of {BlockCodes}, or the planes hold fewer blocks.");
        return blocks;
    }

    /// <summary>
    /// scale · E3M2(code) for 16 codes: the magnitude (bits 0–4) looked up in the scaled tables, the sign (bit 5) flipped
    /// in afterwards — exact, since −(scale · v) = scale · (−v) under round to nearest even.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> DecodeFp6(Vector512<int> code, Vector512<float> lowTable, Vector512<float> highTable)
    {
        var magnitude = Avx512F.PermuteVar16x32x2(lowTable, code & Vector512.Create(31), highTable);
        var sign = (code & Vector512.Create(32)) << 26;
        return (magnitude.AsInt32() ^ sign).AsSingle();
    }
}
