using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LlmFp4.Kit.Formats;

/// <summary>
/// The float32 constants that round a value onto the grid of an integer-bias ExMy format with bit tricks on the
/// float encoding instead of log2: above the smallest normal the low <c>23 - m</c> mantissa bits are dropped with
/// round-half-even on the integer bit pattern (a carry moves into the exponent by itself; with m = 0 a tie has
/// y / step = 1.5 and its even neighbour is 2, so ties round up); below it the grid is
/// uniform and one add/subtract of a power of two rounds to it. Only built for formats whose whole grid is made of
/// normal float32 values or float32 multiples of the subnormal step (see <see cref="TryCreate"/>).
/// </summary>
internal readonly struct FpGrid
{
    private const uint SignMask = 0x8000_0000u;
    private const uint MagnitudeMask = 0x7FFF_FFFFu;

    /// <summary>Largest finite magnitude.</summary>
    public readonly float Max;

    /// <summary>Smallest normal magnitude 2^(1-b); +∞ for E0My formats, which are uniform throughout.</summary>
    public readonly float MinNormal;

    /// <summary>2^(1-b-m+23): adding and subtracting it rounds a magnitude below <see cref="MinNormal"/> to the subnormal step.</summary>
    public readonly float SubnormalMagic;

    /// <summary>Number of float32 mantissa bits the format drops (23 - m).</summary>
    public readonly int DroppedBits;

    /// <summary>Added to the bit pattern before the dropped bits are cleared: half a step minus one, then the parity bit (ties to even) when m ≥ 1; half a step when m = 0.</summary>
    private readonly uint _roundingIncrement;
    private readonly uint _parityMask;
    private readonly uint _keepMask;

    /// <summary>True: magnitudes that round above <see cref="Max"/> become infinity (IEEE); false: inputs clip to ±Max first.</summary>
    public readonly bool OverflowsToInfinity;

    private FpGrid(float max, float minNormal, float subnormalMagic, int mantissaBits, bool overflowsToInfinity)
    {
        Max = max;
        MinNormal = minNormal;
        SubnormalMagic = subnormalMagic;
        DroppedBits = 23 - mantissaBits;
        // With m = 0 the bit above the dropped ones is the exponent's lowest bit, not a mantissa parity.
        _roundingIncrement = DroppedBits == 0 ? 0u : mantissaBits == 0 ? 1u << (DroppedBits - 1) : (1u << (DroppedBits - 1)) - 1u;
        _parityMask = DroppedBits == 0 || mantissaBits == 0 ? 0u : 1u;
        _keepMask = ~((1u << DroppedBits) - 1u);
        OverflowsToInfinity = overflowsToInfinity;
    }

    /// <summary>
    /// Builds the constants for exponent bits <paramref name="e"/>, mantissa bits <paramref name="m"/>, integer bias
    /// <paramref name="bias"/> and largest magnitude <paramref name="maxValue"/>; false when the grid leaves the
    /// float32 range (its smallest normal below 2^-126 or its maximum above float.MaxValue), where callers fall back
    /// to the exact double-precision path.
    /// </summary>
    public static bool TryCreate(int e, int m, int bias, double maxValue, bool overflowsToInfinity, out FpGrid grid)
    {
        grid = default;
        int minNormalExponent = 1 - bias;
        int magicExponent = minNormalExponent - m + 23;
        if (maxValue > float.MaxValue || minNormalExponent < -126 || magicExponent > 127)
            return false;
        float minNormal = e == 0 ? float.PositiveInfinity : MathF.ScaleB(1f, minNormalExponent);
        grid = new FpGrid((float)maxValue, minNormal, MathF.ScaleB(1f, magicExponent), m, overflowsToInfinity);
        return true;
    }

    /// <summary>The same grid, but clipping to ±Max instead of overflowing to infinity (OCP MX element conversion).</summary>
    public FpGrid Saturating() => new(Max, MinNormal, SubnormalMagic, 23 - DroppedBits, overflowsToInfinity: false);

    /// <summary>Scalar reference: rounds <paramref name="y"/> to the nearest grid value, ties to even. NaN stays NaN, ±0 keep their sign.</summary>
    public float Quantize(float y)
    {
        if (float.IsNaN(y))
            return y;
        uint bits = BitConverter.SingleToUInt32Bits(y);
        float magnitude = BitConverter.UInt32BitsToSingle(bits & MagnitudeMask);
        if (!OverflowsToInfinity)
            magnitude = MathF.Min(magnitude, Max);
        float rounded;
        if (magnitude < MinNormal)
        {
            rounded = (magnitude + SubnormalMagic) - SubnormalMagic;
        }
        else
        {
            uint m = BitConverter.SingleToUInt32Bits(magnitude);
            rounded = BitConverter.UInt32BitsToSingle((m + _roundingIncrement + ((m >> DroppedBits) & _parityMask)) & _keepMask);
        }
        if (OverflowsToInfinity && rounded > Max)
            rounded = float.PositiveInfinity;
        return BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(rounded) | (bits & SignMask));
    }

    /// <summary>Vector512 version of <see cref="Quantize(float)"/>, lane for lane identical.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Quantize(Vector512<float> y)
    {
        var bits = y.AsUInt32();
        var magnitude = (bits & Vector512.Create(MagnitudeMask)).AsSingle();
        if (!OverflowsToInfinity)
            magnitude = Vector512.MinNative(magnitude, Vector512.Create(Max));
        var subnormalMagic = Vector512.Create(SubnormalMagic);
        var subnormal = (magnitude + subnormalMagic) - subnormalMagic;
        var m = magnitude.AsUInt32();
        var normal = ((m + Vector512.Create(_roundingIncrement) + ((m >> DroppedBits) & Vector512.Create(_parityMask))) & Vector512.Create(_keepMask)).AsSingle();
        var rounded = Vector512.ConditionalSelect(Vector512.LessThan(magnitude, Vector512.Create(MinNormal)), subnormal, normal);
        if (OverflowsToInfinity)
            rounded = Vector512.ConditionalSelect(Vector512.GreaterThan(rounded, Vector512.Create(Max)), Vector512.Create(float.PositiveInfinity), rounded);
        var signed = (rounded.AsUInt32() | (bits & Vector512.Create(SignMask))).AsSingle();
        return Vector512.ConditionalSelect(Vector512.Equals(y, y), signed, y);
    }

    /// <summary>Vector256 version of <see cref="Quantize(float)"/>, lane for lane identical.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Quantize(Vector256<float> y)
    {
        var bits = y.AsUInt32();
        var magnitude = (bits & Vector256.Create(MagnitudeMask)).AsSingle();
        if (!OverflowsToInfinity)
            magnitude = Vector256.MinNative(magnitude, Vector256.Create(Max));
        var subnormalMagic = Vector256.Create(SubnormalMagic);
        var subnormal = (magnitude + subnormalMagic) - subnormalMagic;
        var m = magnitude.AsUInt32();
        var normal = ((m + Vector256.Create(_roundingIncrement) + ((m >> DroppedBits) & Vector256.Create(_parityMask))) & Vector256.Create(_keepMask)).AsSingle();
        var rounded = Vector256.ConditionalSelect(Vector256.LessThan(magnitude, Vector256.Create(MinNormal)), subnormal, normal);
        if (OverflowsToInfinity)
            rounded = Vector256.ConditionalSelect(Vector256.GreaterThan(rounded, Vector256.Create(Max)), Vector256.Create(float.PositiveInfinity), rounded);
        var signed = (rounded.AsUInt32() | (bits & Vector256.Create(SignMask))).AsSingle();
        return Vector256.ConditionalSelect(Vector256.Equals(y, y), signed, y);
    }
}
