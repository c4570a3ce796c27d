using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmFp4.Kit.Tensors;

/// <summary>
/// A 4-bit weight W [<see cref="Outputs"/> × <see cref="Inputs"/>] (a linear layer's [out × in]) held input-major for
/// products: W[o, k] = (n − z) · s with n the stored 4-bit code and a zero point z and float32 scale s per output and
/// group of <see cref="GroupSize"/> inputs. A product that keeps the GEMM's summation order (per output, k ascending)
/// reads W one input at a time across the outputs, so the codes are stored that way, in strips of 16 outputs: for every
/// strip and every pair of inputs (2p, 2p + 1), 16 bytes, byte i holding output 16·strip + i's code at 2p in its low
/// nibble and at 2p + 1 in its high nibble; zero points and scales are stored 16 per (strip, group). One 16-byte load
/// gives 16 outputs at two inputs, in the order the product uses them (<see cref="ManagedGemm.RowTimesInt4Columns"/>),
/// where rows stored one after another would need a transpose of every tile.
/// </summary>
internal sealed class Int4Columns
{
    /// <summary>Outputs per strip: one Vector512 of float32.</summary>
    public const int StripRows = 16;

    private Int4Columns(int outputs, int inputs, int groupSize, byte[] nibbles, float[] scales, byte[] zeros)
    {
        (Outputs, Inputs, GroupSize) = (outputs, inputs, groupSize);
        (Nibbles, Scales, Zeros) = (nibbles, scales, zeros);
        Strips = (outputs + StripRows - 1) / StripRows;
        Pairs = (inputs + 1) / 2;
        Groups = (inputs + groupSize - 1) / groupSize;
    }

    public int Outputs { get; }
    public int Inputs { get; }
    /// <summary>Inputs per zero point and scale; even, so both inputs of a pair share them.</summary>
    public int GroupSize { get; }
    /// <summary>Strips of 16 outputs (the last padded with code 0, zero point 0, scale 0).</summary>
    public int Strips { get; }
    /// <summary>Pairs of inputs per strip (an odd last input has its pair's high nibble 0).</summary>
    public int Pairs { get; }
    public int Groups { get; }

    /// <summary>[Strips × Pairs × 16] bytes, two codes each.</summary>
    public byte[] Nibbles { get; }
    /// <summary>[Strips × Groups × 16].</summary>
    public float[] Scales { get; }
    /// <summary>[Strips × Groups × 16].</summary>
    public byte[] Zeros { get; }

    /// <summary>Bytes held: codes, scales and zero points, padding included.</summary>
    public long Bytes => Nibbles.Length + 4L * Scales.Length + Zeros.Length;

    /// <summary>
    /// Stores row-major codes ([outputs × inputs], each 0..15) with zero points and scales per (output, group) ([outputs ×
    /// groups], row-major) in the strip layout.
    /// </summary>
    /// <exception cref="ArgumentException">An odd group size that is not the whole row, arrays of the wrong length, or a code above 15.</exception>
    public static Int4Columns Pack(ReadOnlySpan<byte> codes, ReadOnlySpan<byte> zeros, ReadOnlySpan<float> scales, int outputs, int inputs, int groupSize)
    {
        if (outputs < 1 || inputs < 1 || groupSize < 1 || (groupSize % 2 != 0 && groupSize < inputs))
            throw new ArgumentException($"Int4Columns: [{outputs} × {inputs}] in groups of {groupSize} (groups must be even or the whole row).");
        int groups = (inputs + groupSize - 1) / groupSize, strips = (outputs + StripRows - 1) / StripRows, pairs = (inputs + 1) / 2;
        if (codes.Length != (long)outputs * inputs || zeros.Length != outputs * groups || scales.Length != outputs * groups)
            throw new ArgumentException($"Int4Columns: {codes.Length} codes, {zeros.Length} zero points and {scales.Length} scales for [{outputs} × {inputs}] in {groups} groups.");
        var nibbles = new byte[(long)strips * pairs * StripRows];
        var stripScales = new float[strips * groups * StripRows];
        var stripZeros = new byte[strips * groups * StripRows];
        for (int o = 0; o < outputs; o++)
        {
            int strip = o / StripRows, lane = o % StripRows;
            for (int g = 0; g < groups; g++)
            {
                stripZeros[(strip * groups + g) * StripRows + lane] = zeros[o * groups + g];
                stripScales[(strip * groups + g) * StripRows + lane] = scales[o * groups + g];
            }
            for (int k = 0; k < inputs; k++)
            {
                byte code = codes[o * inputs + k];
                if (code > 15) throw new ArgumentException($"Int4Columns: code {code} at [{o}, {k}] does not fit 4 bits.");
                nibbles[((long)strip * pairs + k / 2) * StripRows + lane] |= (byte)(code << (4 * (k & 1)));
            }
        }
        return new Int4Columns(outputs, inputs, groupSize, nibbles, stripScales, stripZeros);
    }

    /// <summary>Scalar reference: W[o, k] = (n − z) · s, the integer difference converted exactly, then one float32 product.</summary>
    public float Value(int o, int k)
    {
        int strip = o / StripRows, lane = o % StripRows;
        int code = (Nibbles[((long)strip * Pairs + k / 2) * StripRows + lane] >> (4 * (k & 1))) & 15;
        int slot = (strip * Groups + k / GroupSize) * StripRows + lane;
        return (float)(code - Zeros[slot]) * Scales[slot];
    }

    /// <summary>
    /// Outputs <paramref name="first"/>..first + count − 1 into <paramref name="destination"/>[k · stride + o − first]:
    /// whole strips with AVX-512 (16 bytes widened to 16 lanes give two inputs of 16 outputs, each (n − z) converted and
    /// multiplied once, as <see cref="Value"/> does), everything else, or all of it when <paramref name="vectorized"/> is
    /// false, with <see cref="Value"/>. The caller checks the ranges.
    /// </summary>
    public void DecodeColumns(int first, int count, Span<float> destination, int stride, bool vectorized)
    {
        for (int o = first; o < first + count;)
        {
            if (vectorized && Avx512F.IsSupported && o % StripRows == 0 && o + StripRows <= first + count)
            {
                DecodeStrip(o / StripRows, destination[(o - first)..], stride);
                o += StripRows;
                continue;
            }
            for (int k = 0; k < Inputs; k++) destination[k * stride + o - first] = Value(o, k);
            o++;
        }
    }

    private void DecodeStrip(int strip, Span<float> destination, int stride)
    {
        ref byte nibbles = ref MemoryMarshal.GetArrayDataReference(Nibbles);
        ref float target = ref MemoryMarshal.GetReference(destination);
        var fifteen = Vector512.Create(15);
        for (int g = 0; g < Groups; g++)
        {
            int slot = (strip * Groups + g) * StripRows;
            var zero = Avx512F.ConvertToVector512Int32(Vector128.Create(Zeros.AsSpan(slot, StripRows)));
            var scale = Vector512.Create(Scales.AsSpan(slot, StripRows));
            int end = Math.Min(Inputs, (g + 1) * GroupSize);
            for (int k = g * GroupSize; k < end; k += 2)
            {
                var codes = Avx512F.ConvertToVector512Int32(Vector128.LoadUnsafe(ref nibbles, (nuint)(((long)strip * Pairs + k / 2) * StripRows)));
                (Vector512.ConvertToSingle((codes & fifteen) - zero) * scale).StoreUnsafe(ref target, (nuint)((long)k * stride));
                if (k + 1 < end)
                    (Vector512.ConvertToSingle((codes >> 4) - zero) * scale).StoreUnsafe(ref target, (nuint)((long)(k + 1) * stride));
            }
        }
    }
}
