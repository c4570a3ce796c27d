using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace LlmFp4.Kit.Formats;

/// <summary>
/// A uniform integer format of 2..16 bits. Symmetric: codes -(2^(n-1) - 1)..2^(n-1) - 1 with zero point 0 (the
/// restricted range, so that +max and -max are both codes); asymmetric: codes 0..2^n - 1 around an integer zero
/// point. A value x quantizes to <c>(clamp(roundHalfEven(x / scale) + z, QMin, QMax) - z) · scale</c>.
/// Serialises to JSON as its <see cref="ToString"/> text ("INT4" or "UINT4").
/// </summary>
[JsonConverter(typeof(IntFormatJsonConverter))]
public sealed class IntFormat : IEquatable<IntFormat>
{
    /// <summary>Narrowest supported width in bits.</summary>
    public const int MinBits = 2;
    /// <summary>Widest supported width in bits.</summary>
    public const int MaxBits = 16;

    private IntFormat(int bits, bool symmetric)
    {
        Bits = bits;
        IsSymmetric = symmetric;
        QMax = symmetric ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
        QMin = symmetric ? -QMax : 0;
    }

    /// <summary>n, the code width in bits (2..16).</summary>
    public int Bits { get; }
    /// <summary>True for the symmetric restricted range around zero point 0; false for codes 0..2^n - 1 with a zero point.</summary>
    public bool IsSymmetric { get; }

    /// <summary>Smallest code: -(2^(n-1) - 1) symmetric, 0 asymmetric.</summary>
    public int QMin { get; }

    /// <summary>Largest code: 2^(n-1) - 1 symmetric, 2^n - 1 asymmetric.</summary>
    public int QMax { get; }

    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bits"/> outside 2..16.</exception>
    public static IntFormat Symmetric(int bits) => new(CheckBits(bits), symmetric: true);

    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bits"/> outside 2..16.</exception>
    public static IntFormat Asymmetric(int bits) => new(CheckBits(bits), symmetric: false);

    /// <summary>Symmetric 4-bit: codes -7..7.</summary>
    public static IntFormat Int4 { get; } = Symmetric(4);
    /// <summary>Symmetric 8-bit: codes -127..127.</summary>
    public static IntFormat Int8 { get; } = Symmetric(8);

    private static int CheckBits(int bits)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bits, MinBits);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bits, MaxBits);
        return bits;
    }

    /// <summary>
    /// Min-max parameters for values in [<paramref name="min"/>, <paramref name="max"/>]: symmetric
    /// scale = max(|min|, |max|) / QMax, zero point 0; asymmetric scale = (max - min) / (2^n - 1) over a range
    /// widened to contain 0, zero point round(-min / scale). An all-zero range gives scale 0 (every value quantizes to 0).
    /// </summary>
    public (float Scale, int ZeroPoint) MinMaxParameters(float min, float max)
    {
        if (IsSymmetric)
            return (MathF.Max(MathF.Abs(min), MathF.Abs(max)) / QMax, 0);
        min = MathF.Min(min, 0f);
        max = MathF.Max(max, 0f);
        float scale = (max - min) / QMax;
        int zeroPoint = scale == 0 ? 0 : Math.Clamp((int)MathF.Round(-min / scale), QMin, QMax);
        return (scale, zeroPoint);
    }

    /// <summary>The code of x: clamp(roundHalfEven(x / scale) + z, QMin, QMax), x / scale a float32 division; a scale of 0 gives z.</summary>
    /// <exception cref="ArgumentException">NaN has no code.</exception>
    public int Encode(float x, float scale, int zeroPoint = 0)
    {
        if (float.IsNaN(x))
            throw new ArgumentException($"NaN has no code in {this}.", nameof(x));
        return (int)Math.Clamp(MathF.Round(x / FakeQuant.Divisor(scale)) + zeroPoint, QMin, QMax);
    }

    /// <summary>(code - z) · scale.</summary>
    public float Decode(int code, float scale, int zeroPoint = 0) => (code - zeroPoint) * scale;

    /// <summary>Fake-quantizes one value: <see cref="Decode"/>(<see cref="Encode"/>(x)). NaN stays NaN.</summary>
    public float Quantize(float x, float scale, int zeroPoint = 0) =>
        float.IsNaN(x) ? x : Decode(Encode(x, scale, zeroPoint), scale, zeroPoint);

    /// <summary>Element-wise <see cref="Quantize(float, float, int)"/> with SIMD (see <see cref="FakeQuant.Quantize(ReadOnlySpan{float}, IntFormat, float, int, Span{float})"/>).</summary>
    public void Quantize(ReadOnlySpan<float> source, float scale, int zeroPoint, Span<float> destination) =>
        FakeQuant.Quantize(source, this, scale, zeroPoint, destination);

    /// <summary>Parses "INT4" (symmetric) or "UINT4" (asymmetric), case-insensitive.</summary>
    public static IntFormat Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var upper = name.Trim().ToUpperInvariant();
        bool symmetric = !upper.StartsWith("UINT", StringComparison.Ordinal);
        var digits = upper.StartsWith("UINT", StringComparison.Ordinal) ? upper[4..] : upper.StartsWith("INT", StringComparison.Ordinal) ? upper[3..] : "";
        if (int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int bits) && bits is >= MinBits and <= MaxBits)
            return new IntFormat(bits, symmetric);
        throw new ArgumentException($"Unknown integer format '{name}': expected INT2..INT16 (symmetric) or UINT2..UINT16 (asymmetric, zero point).", nameof(name));
    }

    /// <summary>"INTn" when symmetric, "UINTn" when asymmetric; <see cref="Parse"/> reads it back.</summary>
    public override string ToString() => (IsSymmetric ? "INT" : "UINT") + Bits.ToString(CultureInfo.InvariantCulture);

    /// <inheritdoc/>
    public bool Equals(IntFormat? other) => other is not null && Bits == other.Bits && IsSymmetric == other.IsSymmetric;
    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as IntFormat);
    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Bits, IsSymmetric);

    private sealed class IntFormatJsonConverter : JsonConverter<IntFormat>
    {
        public override IntFormat Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            Parse(reader.GetString() ?? throw new JsonException("An integer format must be a string such as \"INT4\"."));

        public override void Write(Utf8JsonWriter writer, IntFormat value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
    }
}
