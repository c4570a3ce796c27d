using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace LlmFp4.Kit.Formats;

/// <summary>
/// A sign-exponent-mantissa floating-point format ExMy with a (possibly real-valued) exponent bias, as used by
/// LLM-FP4 and the OCP 4/6/8-bit formats. Every constant derives from (e, m, bias, specials):
/// a code S.E.M is <c>(-1)^S · M · 2^(1-b-m)</c> when E = 0 (subnormal) and <c>(-1)^S · (2^m + M) · 2^(E-b-m)</c>
/// otherwise. A real bias b = ⌊b⌋ + k is the integer-bias grid scaled by 2^-k, so "FP with bias b" is "scale,
/// then the standard grid" (see <see cref="ScaleForBias"/>). E0My formats have no normal numbers: a uniform,
/// INT-like grid. Serialises to JSON as its <see cref="ToString"/> text, which <see cref="Parse"/> reads back.
/// </summary>
[JsonConverter(typeof(FpFormatJsonConverter))]
public sealed partial class FpFormat : IEquatable<FpFormat>
{
    /// <summary>Widest exponent field, e ≤ 8 (the float32/bfloat16 exponent).</summary>
    public const int MaxExponentBits = 8;
    /// <summary>Widest mantissa field, m ≤ 23 (the float32 mantissa).</summary>
    public const int MaxMantissaBits = 23;

    /// <summary>Formats wider than this are not listed by <see cref="Values"/> (there would be millions of values).</summary>
    public const int MaxListedBitWidth = 16;

    private readonly int _gridBias;
    private readonly double _gridToValue;
    private readonly double _gridMax;
    private readonly int _topExponentCode;
    private readonly int _topMantissaCode;
    private readonly bool _hasGrid;
    private readonly FpGrid _grid;
    private IReadOnlyList<double>? _values;

    private FpFormat(int exponentBits, int mantissaBits, double bias, SpecialValues specials)
    {
        ExponentBits = exponentBits;
        MantissaBits = mantissaBits;
        Bias = bias;
        Specials = specials;
        _gridBias = (int)Math.Floor(bias);
        _gridToValue = bias == _gridBias ? 1.0 : Math.Pow(2.0, _gridBias - bias);

        int allOnesExponent = (1 << exponentBits) - 1;
        int allOnesMantissa = (1 << mantissaBits) - 1;
        (_topExponentCode, _topMantissaCode) = specials switch
        {
            SpecialValues.Ieee => (allOnesExponent - 1, allOnesMantissa),
            SpecialValues.NanOnly when mantissaBits == 0 => (allOnesExponent - 1, 0),
            SpecialValues.NanOnly => (allOnesExponent, allOnesMantissa - 1),
            _ => (allOnesExponent, allOnesMantissa),
        };
        _gridMax = GridMagnitude(_topExponentCode, _topMantissaCode);
        MaxValue = _gridMax * _gridToValue;
        MinNormal = Math.ScaleB(1.0, 1 - _gridBias) * _gridToValue;
        MinSubnormal = mantissaBits == 0 ? MinNormal : Magnitude(0, 1);
        _hasGrid = FpGrid.TryCreate(exponentBits, mantissaBits, _gridBias, _gridMax, specials == SpecialValues.Ieee, out _grid);
    }

    /// <summary>e, the exponent field width in bits (0..8).</summary>
    public int ExponentBits { get; }
    /// <summary>m, the mantissa field width in bits (0..23).</summary>
    public int MantissaBits { get; }

    /// <summary>Exponent bias b; may be non-integer (LLM-FP4), in which case <see cref="Encode"/>/<see cref="Decode"/> are unavailable.</summary>
    public double Bias { get; }

    /// <summary>Which codes are NaN or infinity rather than finite values (OCP MX: E2M1/E2M3/E3M2 all finite, E4M3 NaN only, E5M2 IEEE).</summary>
    public SpecialValues Specials { get; }

    /// <summary>1 + e + m.</summary>
    public int BitWidth => 1 + ExponentBits + MantissaBits;

    /// <summary>Largest finite magnitude (for AllFinite: (2 - 2^-m)·2^(2^e - 1 - b)).</summary>
    public double MaxValue { get; }

    /// <summary>2^(1-b): the exponent clamp of LLM-FP4; below it the grid is uniform. E0My formats have no values at or above it.</summary>
    public double MinNormal { get; }

    /// <summary>Smallest positive magnitude, 2^(1-b-m); equals <see cref="MinNormal"/> when m = 0 (no subnormals).</summary>
    public double MinSubnormal { get; }

    /// <summary>True when the bias is an integer, so that every value has a code.</summary>
    public bool HasIntegerBias => _gridToValue == 1.0;

    /// <summary>The float32 bit-trick grid; only valid when <see cref="HasFastGrid"/>. Real biases are applied as a scale on top of it.</summary>
    internal FpGrid Grid => _hasGrid ? _grid : throw new InvalidOperationException($"{this} leaves the float32 range; it has no float32 grid.");

    /// <summary>True when the integer-bias grid fits float32, so the SIMD kernels apply.</summary>
    internal bool HasFastGrid => _hasGrid;

    /// <summary>
    /// The scale of the integer-bias grid <see cref="Grid"/> that a fake-quantization scale <paramref name="scale"/>
    /// stands for: the scale itself for an integer bias, else scale · 2^(⌊b⌋ - b) rounded to float32 (the values of a
    /// real-bias format are the integer-bias grid times 2^(⌊b⌋ - b)).
    /// </summary>
    internal float GridScale(float scale) => HasIntegerBias ? scale : scale * (float)_gridToValue;

    // OCP / IEEE presets. Formats the OCP spec does not define (E1M2, E3M0) take the IEEE-style bias 2^(e-1) - 1.
    /// <summary>FP4 E2M1, bias 1, all finite: ±{0, 0.5, 1, 1.5, 2, 3, 4, 6} (OCP MX v1.0; LLM-FP4's default 4-bit format).</summary>
    public static FpFormat E2M1 { get; } = new(2, 1, 1, SpecialValues.AllFinite);
    /// <summary>FP4 E1M2, bias 0, all finite: ±{0, 0.25, …, 1.75}, a uniform grid with one binade.</summary>
    public static FpFormat E1M2 { get; } = new(1, 2, 0, SpecialValues.AllFinite);
    /// <summary>FP4 E3M0, bias 3, all finite: ±{0, 0.25, 0.5, 1, …, 16}, powers of two only.</summary>
    public static FpFormat E3M0 { get; } = new(3, 0, 3, SpecialValues.AllFinite);
    /// <summary>FP6 E2M3, bias 1, all finite, max 7.5 (OCP MX v1.0).</summary>
    public static FpFormat E2M3 { get; } = new(2, 3, 1, SpecialValues.AllFinite);
    /// <summary>FP6 E3M2, bias 3, all finite, max 28 (OCP MX v1.0; the FP6 of ZeroQuant(4+2), docs/methods.md §9).</summary>
    public static FpFormat E3M2 { get; } = new(3, 2, 3, SpecialValues.AllFinite);
    /// <summary>FP8 E4M3, bias 7, only S.1111.111 is NaN, max 448 (OCP FP8 "E4M3FN").</summary>
    public static FpFormat E4M3 { get; } = new(4, 3, 7, SpecialValues.NanOnly);
    /// <summary>FP8 E5M2, bias 15, IEEE infinities and NaNs, max 57344 (OCP FP8).</summary>
    public static FpFormat E5M2 { get; } = new(5, 2, 15, SpecialValues.Ieee);
    /// <summary>IEEE 754 binary16, E5M10, bias 15, max 65504.</summary>
    public static FpFormat Half { get; } = new(5, 10, 15, SpecialValues.Ieee);
    /// <summary>bfloat16, E8M7, bias 127: float32's exponent range with 7 mantissa bits.</summary>
    public static FpFormat BFloat16 { get; } = new(8, 7, 127, SpecialValues.Ieee);

    /// <summary>Preset names in listing order; <see cref="Parse"/> accepts each (case-insensitive).</summary>
    public static IReadOnlyList<string> PresetNames { get; } = ["E2M1", "E1M2", "E3M0", "E2M3", "E3M2", "E4M3", "E5M2", "Half", "BFloat16"];

    /// <summary>
    /// The format ExMy with the given bias and special values.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">e outside 0..8, m outside 0..23, a non-finite bias or an unknown <paramref name="specials"/>.</exception>
    /// <exception cref="ArgumentException">A combination with no positive finite value, or IEEE specials without room for them.</exception>
    public static FpFormat Create(int exponentBits, int mantissaBits, double bias, SpecialValues specials = SpecialValues.AllFinite)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(exponentBits);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(exponentBits, MaxExponentBits);
        ArgumentOutOfRangeException.ThrowIfNegative(mantissaBits);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(mantissaBits, MaxMantissaBits);
        if (!double.IsFinite(bias))
            throw new ArgumentOutOfRangeException(nameof(bias), bias, "The exponent bias must be a finite number.");
        if (!Enum.IsDefined(specials))
            throw new ArgumentOutOfRangeException(nameof(specials), specials, "Unknown special-value policy.");
        if (exponentBits + mantissaBits == 0)
            throw new ArgumentException("E0M0 has only ±0: a format needs at least one exponent or mantissa bit.", nameof(mantissaBits));
        if (specials == SpecialValues.Ieee && (exponentBits == 0 || mantissaBits == 0))
            throw new ArgumentException($"E{exponentBits}M{mantissaBits} cannot hold IEEE specials: they need an exponent field and a mantissa bit to tell NaN from infinity.", nameof(specials));
        var format = new FpFormat(exponentBits, mantissaBits, bias, specials);
        if (!(format.MaxValue > 0))
            throw new ArgumentException($"{format} has no positive finite value.", nameof(specials));
        return format;
    }

    /// <summary>
    /// The all-finite ExMy format whose largest value is <paramref name="maxValue"/>: bias
    /// b = log2(MaxValue at b = 0 / maxValue), which for e ≥ 1 is the LLM-FP4 relation
    /// b = 2^e - log2(maxval) + log2(2 - 2^-m) - 1 (choosing the clipping range and the bias are the same thing).
    /// For E0My the same rule uses that format's own largest code, (2^m - 1)·2^(1-b-m).
    /// </summary>
    public static FpFormat FromMaxValue(int exponentBits, int mantissaBits, double maxValue)
    {
        if (!(maxValue > 0) || !double.IsFinite(maxValue))
            throw new ArgumentOutOfRangeException(nameof(maxValue), maxValue, "The maximum value must be positive and finite.");
        return Create(exponentBits, mantissaBits, Create(exponentBits, mantissaBits, 0).BiasForMaxValue(maxValue));
    }

    /// <summary>
    /// The exponent bias at which this format's largest value is <paramref name="maxValue"/>: b' = b + log2(MaxValue /
    /// maxValue), the one place the kit turns a clipping range into an LLM-FP4 bias (docs/methods.md §1). A zero range (an
    /// all-zero row, channel or tensor) has nothing to fit and keeps this format's own bias, so every bias stays finite.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxValue"/> is negative, NaN or infinite.</exception>
    public double BiasForMaxValue(double maxValue)
    {
        if (maxValue == 0) return Bias;
        if (!(maxValue > 0) || !double.IsFinite(maxValue))
            throw new ArgumentOutOfRangeException(nameof(maxValue), maxValue, "The maximum value must be positive and finite (or 0).");
        return Bias + Math.Log2(MaxValue / maxValue);
    }

    /// <summary>The same e, m and specials with another bias.</summary>
    public FpFormat WithBias(double bias) => Create(ExponentBits, MantissaBits, bias, Specials);

    /// <summary>
    /// The factor s = 2^(Bias - bias) such that the format with exponent bias <paramref name="bias"/> quantizes x as
    /// s·Q(x/s), Q being this format: a per-channel bias is a per-channel scale for the <see cref="FakeQuant"/> kernels.
    /// </summary>
    public double ScaleForBias(double bias) => Math.Pow(2.0, Bias - bias);

    /// <summary>
    /// Parses a preset name (case-insensitive: E2M1, E1M2, E3M0, E2M3, E3M2, E4M3, E5M2, Half, BFloat16) or the
    /// <see cref="ToString"/> form "ExMy(b=B)" / "ExMy(b=B,NanOnly)".
    /// </summary>
    /// <exception cref="ArgumentException">Unknown name; the message lists the presets.</exception>
    public static FpFormat Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var trimmed = name.Trim();
        switch (trimmed.ToUpperInvariant())
        {
            case "E2M1": return E2M1;
            case "E1M2": return E1M2;
            case "E3M0": return E3M0;
            case "E2M3": return E2M3;
            case "E3M2": return E3M2;
            case "E4M3": return E4M3;
            case "E5M2": return E5M2;
            case "HALF": return Half;
            case "BFLOAT16": return BFloat16;
        }
        var match = FormatText().Match(trimmed);
        if (match.Success
            && double.TryParse(match.Groups["bias"].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double bias)
            && (!match.Groups["specials"].Success || Enum.TryParse(match.Groups["specials"].Value, ignoreCase: true, out SpecialValues _)))
        {
            var specials = match.Groups["specials"].Success ? Enum.Parse<SpecialValues>(match.Groups["specials"].Value, ignoreCase: true) : SpecialValues.AllFinite;
            return Create(int.Parse(match.Groups["e"].Value, CultureInfo.InvariantCulture), int.Parse(match.Groups["m"].Value, CultureInfo.InvariantCulture), bias, specials);
        }
        throw new ArgumentException($"Unknown number format '{name}'. Presets: {string.Join(", ", PresetNames)} (or ExMy(b=B), e.g. E2M1(b=0.7)).", nameof(name));
    }

    [GeneratedRegex(@"^E(?<e>\d+)M(?<m>\d+)\(b=(?<bias>[^,)]+)(,(?<specials>\w+))?\)$", RegexOptions.IgnoreCase)]
    private static partial Regex FormatText();

    /// <summary>
    /// Rounds <paramref name="x"/> to the nearest value of the format, ties to even (to the even multiple of the step,
    /// as LLM-FP4's roundHalfEven(x / s)·s does). AllFinite and NanOnly formats saturate to ±<see cref="MaxValue"/>
    /// (±infinity included); Ieee formats round to ±infinity as IEEE 754 does (so <c>Half.Quantize(x) == (float)(Half)x</c>).
    /// NaN stays NaN; ±0 keep their sign. For an integer bias the result is the exact nearest value; a real bias b
    /// divides x by 2^(⌊b⌋ - b) in float32 first and multiplies back after (<see cref="FakeQuant"/> with scale 1, as
    /// the reference code's float32 step 2^(p-m-b) does).
    /// </summary>
    public float Quantize(float x)
    {
        if (HasIntegerBias)
            return _hasGrid ? _grid.Quantize(x) : RoundToGridExact(x);
        float scale = GridScale(1f);
        return (_hasGrid ? _grid.Quantize(x / scale) : RoundToGridExact(x / scale)) * scale;
    }

    /// <summary>Element-wise <see cref="Quantize(float)"/> (SIMD for formats within the float32 range). <paramref name="destination"/> may alias <paramref name="source"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <paramref name="source"/>.</exception>
    public void Quantize(ReadOnlySpan<float> source, Span<float> destination)
    {
        if (destination.Length < source.Length)
            throw new ArgumentException($"Destination holds {destination.Length} values, source {source.Length}.", nameof(destination));
        FakeQuant.QuantizeCore(source, this, 1f, destination, FakeQuant.BestWidth);
    }

    /// <summary>
    /// Double-precision rounding of <paramref name="y"/> onto the integer-bias grid (bias ⌊b⌋), following LLM-FP4
    /// literally: p = max(⌊log2|y|⌋ + ⌊b⌋, 1), step 2^(p-m-⌊b⌋), roundHalfEven(|y| / step)·step, rounded once to
    /// float32. Used where the float32 grid does not apply (formats beyond float32) and as the reference of its bit tricks.
    /// </summary>
    internal float RoundToGridExact(float y)
    {
        if (float.IsNaN(y))
            return y;
        double magnitude = Math.Abs((double)y);
        if (Specials != SpecialValues.Ieee)
            magnitude = Math.Min(magnitude, _gridMax);
        double rounded;
        if (double.IsPositiveInfinity(magnitude))
        {
            rounded = magnitude;
        }
        else
        {
            int p = magnitude == 0 ? 1 : Math.Max(Math.ILogB(magnitude) + _gridBias, 1);
            double step = Math.ScaleB(1.0, p - _gridBias - MantissaBits);
            rounded = Math.Round(magnitude / step, MidpointRounding.ToEven) * step;
            if (rounded > _gridMax)
                rounded = double.PositiveInfinity;
        }
        return float.CopySign((float)rounded, y);
    }

    /// <summary>
    /// The code (sign in bit e+m, then exponent, then mantissa) of <see cref="Quantize(float)"/>(x). NaN maps to the
    /// format's NaN code (NanOnly: S.1…1.1…1; Ieee: exponent all ones, top mantissa bit set), keeping the sign bit.
    /// </summary>
    /// <exception cref="InvalidOperationException">The bias is not an integer.</exception>
    /// <exception cref="ArgumentException">NaN into an AllFinite format.</exception>
    public int Encode(float x)
    {
        RequireIntegerBias(nameof(Encode));
        float q = Quantize(x);
        int magnitudeBits = ExponentBits + MantissaBits;
        int sign = float.IsNegative(q) ? 1 << magnitudeBits : 0;
        int allOnesExponent = (1 << ExponentBits) - 1;
        if (float.IsNaN(q))
        {
            return Specials switch
            {
                SpecialValues.NanOnly => sign | (int)((1u << magnitudeBits) - 1),
                SpecialValues.Ieee => sign | (allOnesExponent << MantissaBits) | (1 << (MantissaBits - 1)),
                _ => throw new ArgumentException($"{this} has every code finite: NaN has no code.", nameof(x)),
            };
        }
        if (float.IsInfinity(q))
            return sign | (allOnesExponent << MantissaBits);
        double magnitude = Math.Abs((double)q);
        if (magnitude < MinNormal)
            return sign | (int)(magnitude / Math.ScaleB(1.0, 1 - _gridBias - MantissaBits));
        int exponentCode = Math.ILogB(magnitude) + _gridBias;
        int mantissaCode = (int)(magnitude / Math.ScaleB(1.0, exponentCode - _gridBias - MantissaBits)) - (1 << MantissaBits);
        return sign | (exponentCode << MantissaBits) | mantissaCode;
    }

    /// <summary>The quiet NaN with the sign bit clear.</summary>
    private static readonly float PositiveNaN = BitConverter.UInt32BitsToSingle(0x7FC0_0000u);

    /// <summary>
    /// The value of <paramref name="code"/> (its low <see cref="BitWidth"/> bits), rounded to float32. A NaN code
    /// decodes to a quiet NaN whose sign bit is the code's sign bit.
    /// </summary>
    /// <exception cref="InvalidOperationException">The bias is not an integer.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The code has bits above <see cref="BitWidth"/>.</exception>
    public float Decode(int code)
    {
        RequireIntegerBias(nameof(Decode));
        uint bits = (uint)code;
        if (BitWidth < 32 && bits >> BitWidth != 0)
            throw new ArgumentOutOfRangeException(nameof(code), code, $"{this} has {BitWidth}-bit codes.");
        bool negative = ((bits >> (ExponentBits + MantissaBits)) & 1) != 0;
        int exponentCode = (int)((bits >> MantissaBits) & ((1u << ExponentBits) - 1));
        int mantissaCode = (int)(bits & ((1u << MantissaBits) - 1));
        int allOnesExponent = (1 << ExponentBits) - 1;
        float magnitude;
        if (Specials == SpecialValues.Ieee && exponentCode == allOnesExponent)
            magnitude = mantissaCode == 0 ? float.PositiveInfinity : PositiveNaN;
        else if (Specials == SpecialValues.NanOnly && exponentCode == allOnesExponent && mantissaCode == (1 << MantissaBits) - 1)
            magnitude = PositiveNaN;
        else
            magnitude = (float)Magnitude(exponentCode, mantissaCode);
        // Negation flips the sign bit of NaN too, so the NaN must start positive (.NET's float.NaN has the sign bit set).
        return negative ? -magnitude : magnitude;
    }

    /// <summary>Every finite non-negative value, ascending (0 first), as doubles (exact for any bias).</summary>
    /// <exception cref="InvalidOperationException">The format is wider than <see cref="MaxListedBitWidth"/> bits.</exception>
    public IReadOnlyList<double> Values => _values ??= ListValues();

    private IReadOnlyList<double> ListValues()
    {
        if (BitWidth > MaxListedBitWidth)
            throw new InvalidOperationException($"{this} has 2^{BitWidth - 1} magnitudes; Values lists formats of at most {MaxListedBitWidth} bits.");
        var values = new List<double>();
        for (int exponentCode = 0; exponentCode <= _topExponentCode; exponentCode++)
        {
            int lastMantissa = exponentCode == _topExponentCode ? _topMantissaCode : (1 << MantissaBits) - 1;
            for (int mantissaCode = 0; mantissaCode <= lastMantissa; mantissaCode++)
                values.Add(Magnitude(exponentCode, mantissaCode));
        }
        return values.AsReadOnly();
    }

    private double Magnitude(int exponentCode, int mantissaCode) => GridMagnitude(exponentCode, mantissaCode) * _gridToValue;

    private double GridMagnitude(int exponentCode, int mantissaCode)
    {
        double significand = exponentCode == 0 ? mantissaCode : (1 << MantissaBits) + mantissaCode;
        return Math.ScaleB(significand, Math.Max(exponentCode, 1) - _gridBias - MantissaBits);
    }

    private void RequireIntegerBias(string operation)
    {
        if (!HasIntegerBias)
            throw new InvalidOperationException($"{operation} needs an integer exponent bias; {this} has codes only after scaling by 2^({_gridBias} - b).");
    }

    /// <summary>"ExMy(b=B)" with the shortest round-trip bias, plus ",NanOnly" or ",Ieee" when not all codes are finite.</summary>
    public override string ToString()
    {
        var bias = Bias.ToString("R", CultureInfo.InvariantCulture);
        var specials = Specials == SpecialValues.AllFinite ? "" : "," + Specials;
        return $"E{ExponentBits}M{MantissaBits}(b={bias}{specials})";
    }

    /// <inheritdoc/>
    /// <remarks>Equal when e, m, specials and the bias (bit for bit, as <see cref="double.Equals(double)"/>) agree.</remarks>
    public bool Equals(FpFormat? other) =>
        other is not null && ExponentBits == other.ExponentBits && MantissaBits == other.MantissaBits
        && Bias.Equals(other.Bias) && Specials == other.Specials;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as FpFormat);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(ExponentBits, MantissaBits, Bias, Specials);

    /// <summary>Value equality, as <see cref="Equals(FpFormat?)"/>; two nulls are equal.</summary>
    public static bool operator ==(FpFormat? left, FpFormat? right) => left is null ? right is null : left.Equals(right);

    /// <summary>Not <c>==</c>.</summary>
    public static bool operator !=(FpFormat? left, FpFormat? right) => !(left == right);

    private sealed class FpFormatJsonConverter : JsonConverter<FpFormat>
    {
        public override FpFormat Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            Parse(reader.GetString() ?? throw new JsonException("A number format must be a string such as \"E2M1(b=1)\"."));

        public override void Write(Utf8JsonWriter writer, FpFormat value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
    }
}
