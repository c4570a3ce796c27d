using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using LlmFp4.Kit.Formats;

namespace LlmFp4.Kit.Quantization;

/// <summary>
/// Static FP fake quantization with LLM-FP4's real-valued exponent bias (docs/methods.md §1): scale slot i of the
/// <see cref="Granularity"/> layout (see <see cref="Formats.Granularity"/>) quantizes with the format
/// <see cref="Format"/> at exponent bias <see cref="Biases"/>[i], i.e. as <c>FpFormat.Create(e, m, Biases[i])</c> would, with
/// clipping range (2 − 2^-m)·2^(2^e − 1 − b). For FPQ's pre-shifted bias (§4) the granularity is per column, with one shared
/// bias ρ = <see cref="Biases"/>[0] and an integer <see cref="Offsets"/>[j] per input channel: channel j has bias ρ + o_j.
/// The biases (and offsets) are what a calibration chooses and saves; the float32 scales the kernels divide by are derived
/// from them (<see cref="Scales"/>).
/// </summary>
public sealed partial record FpQuantizer : TensorQuantizer
{
    /// <summary>
    /// A quantizer with exponent bias <paramref name="biases"/>[i] for slot i (or, with <paramref name="offsets"/>, the
    /// pre-shifted per-column form: bias <paramref name="biases"/>[0] + <paramref name="offsets"/>[j] for column j).
    /// Only the exponent and mantissa widths and the special values of <paramref name="format"/> are used; its own bias is not.
    /// </summary>
    /// <exception cref="ArgumentException">A bias is not finite, a per-tensor quantizer has other than one bias, or
    /// offsets come with another granularity than per column, with other than one bias, or are negative.</exception>
    [JsonConstructor]
    public FpQuantizer(FpFormat format, Granularity granularity, double[] biases, int[]? offsets = null)
    {
        ArgumentNullException.ThrowIfNull(format);
        ArgumentNullException.ThrowIfNull(biases);
        foreach (double bias in biases)
            if (!double.IsFinite(bias)) throw new ArgumentException($"FP quantizer: every exponent bias must be finite, got {bias}.", nameof(biases));
        if (granularity.Kind == GranularityKind.PerTensor && biases.Length != 1)
            throw new ArgumentException($"FP quantizer: a per-tensor quantizer has one exponent bias, got {biases.Length}.", nameof(biases));
        if (offsets is not null && (granularity.Kind != GranularityKind.PerColumn || biases.Length != 1 || offsets.Any(o => o < 0)))
            throw new ArgumentException("FP quantizer: offsets are the pre-shifted form, per column with one shared bias and non-negative offsets.", nameof(offsets));
        Format = format.Bias == 0 ? format : format.WithBias(0);
        Granularity = granularity;
        Biases = biases;
        Offsets = offsets;
        Scales = offsets is null ? BiasScales(Format, biases) : PreShiftedScales(Format, biases[0], offsets);
    }

    /// <summary>The element format ExMy: its widths and special values, held at bias 0 (every slot's bias is in <see cref="Biases"/>); written as "E2M1".</summary>
    [JsonConverter(typeof(ElementFormatJsonConverter))]
    public FpFormat Format { get; }

    /// <summary>Which elements share an exponent bias.</summary>
    public Granularity Granularity { get; }

    /// <summary>The exponent bias of each slot of <see cref="Granularity"/>; with <see cref="Offsets"/>, the one shared bias ρ.</summary>
    public double[] Biases { get; }

    /// <summary>FPQ's pre-shifted bias: the integer offset of each input channel (channel j has bias ρ + o_j); null otherwise.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int[]? Offsets { get; }

    /// <summary>
    /// The float32 scale of each slot, derived from the biases: 2^-b on the bias-0 <see cref="Format"/>
    /// (<see cref="BiasScale"/>), so the kernels compute s·roundHalfEven(x / s) with one float32 division. Pre-shifted:
    /// the shared scale 2^-ρ times 2^-o_j, exact in float32, so the folded form (<c>PreShiftedFold</c>) reproduces it bit for bit.
    /// </summary>
    [JsonIgnore]
    public float[] Scales { get; }

    /// <summary>One exponent bias for the whole tensor.</summary>
    public static FpQuantizer PerTensor(FpFormat format, double bias) => new(format, Granularity.PerTensor, [bias]);

    /// <summary>One exponent bias per row (per output channel of a weight, per row of the embedding).</summary>
    public static FpQuantizer PerRow(FpFormat format, double[] biases) => new(format, Granularity.PerRow, biases);

    /// <summary>FPQ's pre-shifted bias: input channel j gets bias ρ + offsets[j].</summary>
    public static FpQuantizer PreShifted(FpFormat format, double rho, int[] offsets) => new(format, Granularity.PerColumn, [rho], offsets);

    /// <summary>The float32 scale 2^(baseFormat.Bias − bias) that applies exponent bias <paramref name="bias"/> to <paramref name="baseFormat"/> (<see cref="FpFormat.ScaleForBias"/>).</summary>
    public static float BiasScale(FpFormat baseFormat, double bias) => (float)baseFormat.ScaleForBias(bias);

    private static float[] BiasScales(FpFormat baseFormat, ReadOnlySpan<double> biases)
    {
        var scales = new float[biases.Length];
        for (int i = 0; i < biases.Length; i++) scales[i] = BiasScale(baseFormat, biases[i]);
        return scales;
    }

    private static float[] PreShiftedScales(FpFormat baseFormat, double rho, ReadOnlySpan<int> offsets)
    {
        // ρ + o_j would round in double; the power of two is applied to the float32 scale instead, exactly.
        float shared = BiasScale(baseFormat, rho);
        var scales = new float[offsets.Length];
        for (int j = 0; j < offsets.Length; j++) scales[j] = MathF.ScaleB(shared, -offsets[j]);
        return scales;
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">A shape that does not match <paramref name="values"/>.</exception>
    public override void Apply(Span<float> values, int rows, int cols)
    {
        CheckShape(values, rows, cols, ToString());
        QuantizeMatrix(values, rows, cols, Format, Granularity, Scales, values);
    }

    /// <inheritdoc />
    public override void Apply(ReadOnlySpan<float> source, Span<float> destination, int rows, int cols)
    {
        if (destination.Length != source.Length)
            throw new ArgumentException($"{this}: destination holds {destination.Length} values, source {source.Length}.");
        QuantizeMatrix(source, rows, cols, Format, Granularity, Scales, destination);
    }

    /// <summary>Rows per parallel work item of <see cref="QuantizeMatrix"/>.</summary>
    private const int ChunkElements = 1 << 18;

    /// <summary>
    /// <see cref="FakeQuant.QuantizeMatrix(ReadOnlySpan{float}, int, int, FpFormat, Granularity, ReadOnlySpan{float}, Span{float})"/>
    /// with the same numbers (each row goes through the same span kernel), but per-tensor, per-row and per-column
    /// scales call the span kernels on whole row ranges from fixed parallel chunks: the matrix driver's per-row
    /// overhead made a [16384 × 256] activation about five times slower than the span kernel, and the search
    /// quantizes such a matrix for every candidate.
    /// </summary>
    internal static unsafe void QuantizeMatrix(ReadOnlySpan<float> source, int rows, int cols, FpFormat format, Granularity granularity,
        float[] scales, Span<float> destination)
    {
        if (granularity.Kind == GranularityKind.PerGroup || (long)rows * cols != source.Length || destination.Length != source.Length
            || scales.Length != granularity.ScaleCount(rows, cols))
        {
            FakeQuant.QuantizeMatrix(source, rows, cols, format, granularity, scales, destination);
            return;
        }
        int rowsPerChunk = Math.Max(1, ChunkElements / Math.Max(cols, 1)), chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
        fixed (float* sourcePointer = source, destinationPointer = destination)
        {
            nint sourceAddress = (nint)sourcePointer, destinationAddress = (nint)destinationPointer;
            void Chunk(int chunk)
            {
                int first = chunk * rowsPerChunk, end = Math.Min(rows, first + rowsPerChunk);
                var x = new ReadOnlySpan<float>((float*)sourceAddress + (long)first * cols, (end - first) * cols);
                var y = new Span<float>((float*)destinationAddress + (long)first * cols, (end - first) * cols);
                switch (granularity.Kind)
                {
                    case GranularityKind.PerTensor:
                        FakeQuant.Quantize(x, format, scales[0], y);
                        break;
                    case GranularityKind.PerRow:
                        for (int r = 0; r < end - first; r++)
                            FakeQuant.Quantize(x.Slice(r * cols, cols), format, scales[first + r], y.Slice(r * cols, cols));
                        break;
                    default:
                        for (int r = 0; r < end - first; r++)
                            FakeQuant.QuantizePerColumn(x.Slice(r * cols, cols), format, scales, y.Slice(r * cols, cols));
                        break;
                }
            }
            if (chunks == 1) Chunk(0);
            else Parallel.For(0, chunks, Chunk);
        }
    }

    /// <summary>"ExMy": the widths alone, with ",NanOnly" or ",Ieee" when not every code is finite.</summary>
    internal static string ElementName(FpFormat format) =>
        $"E{format.ExponentBits}M{format.MantissaBits}{(format.Specials == SpecialValues.AllFinite ? "" : "," + format.Specials)}";

    /// <summary>E.g. "E2M1 PerRow (256 exponent biases)" or "E2M1 PerColumn (ρ = 3.25 + 256 channel offsets)".</summary>
    public override string ToString() => Offsets is null
        ? $"{ElementName(Format)} {Granularity} ({Biases.Length} exponent biases)"
        : $"{ElementName(Format)} {Granularity} (ρ = {Biases[0].ToString("G6", CultureInfo.InvariantCulture)} + {Offsets.Length} channel offsets)";

    [GeneratedRegex(@"^E(?<e>\d+)M(?<m>\d+)(,(?<specials>\w+))?$")]
    private static partial Regex ElementText();

    /// <summary>The element format as "E2M1" (bias 0, all-finite) or "E4M3,NanOnly", so the JSON holds no bias besides <see cref="Biases"/>.</summary>
    private sealed class ElementFormatJsonConverter : JsonConverter<FpFormat>
    {
        public override FpFormat Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            string text = reader.GetString() ?? "";
            var match = ElementText().Match(text);
            if (!match.Success || (match.Groups["specials"].Success && !Enum.TryParse<SpecialValues>(match.Groups["specials"].Value, out _)))
                throw new JsonException($"An FP quantizer's format is ExMy, optionally with ,NanOnly or ,Ieee (e.g. \"E2M1\"), got \"{text}\".");
            var specials = match.Groups["specials"].Success ? Enum.Parse<SpecialValues>(match.Groups["specials"].Value) : SpecialValues.AllFinite;
            try
            {
                return FpFormat.Create(int.Parse(match.Groups["e"].Value, CultureInfo.InvariantCulture), int.Parse(match.Groups["m"].Value, CultureInfo.InvariantCulture), 0, specials);
            }
            catch (ArgumentException ex)
            {
                throw new JsonException($"An FP quantizer's format \"{text}\" is not a valid format: {ex.Message}", ex);
            }
        }

        public override void Write(Utf8JsonWriter writer, FpFormat value, JsonSerializerOptions options) => writer.WriteStringValue(ElementName(value));
    }
}
