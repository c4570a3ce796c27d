using System.Text.Json;
using System.Text.Json.Serialization;

namespace LlmFp4.Kit.Plotting;

/// <summary>
/// One data array of a trace (x, y, z row, category labels): numbers or labels, copied on construction so a
/// figure does not change when the caller reuses its buffer. Serialised as a JSON array; NaN and ±Infinity
/// become <c>null</c>, which Plotly draws as a gap (JSON has no NaN).
/// </summary>
[JsonConverter(typeof(PlotValuesConverter))]
public sealed class PlotValues
{
    private readonly double[]? doubles;
    private readonly float[]? singles;
    private readonly string[]? labels;

    private PlotValues(double[]? doubles, float[]? singles, string[]? labels)
    {
        this.doubles = doubles;
        this.singles = singles;
        this.labels = labels;
    }

    /// <summary>Number of values.</summary>
    public int Count => doubles?.Length ?? singles?.Length ?? labels!.Length;

    /// <summary>True when the values are category labels rather than numbers.</summary>
    public bool IsLabels => labels is not null;

    /// <summary>A copy of numeric values.</summary>
    public static PlotValues Of(ReadOnlySpan<double> values) => new(values.ToArray(), null, null);

    /// <summary>Floats are kept as floats so they serialise in their shortest round-trip form (0.1f → 0.1).</summary>
    public static PlotValues Of(ReadOnlySpan<float> values) => new(null, values.ToArray(), null);

    /// <summary>A copy of numeric values.</summary>
    public static PlotValues Of(IEnumerable<double> values) => new(values.ToArray(), null, null);

    /// <summary>A copy of float values, kept as floats (see <see cref="Of(ReadOnlySpan{float})"/>).</summary>
    public static PlotValues Of(IEnumerable<float> values) => new(null, values.ToArray(), null);

    /// <summary>A copy of integer values, as doubles.</summary>
    public static PlotValues Of(IEnumerable<int> values) => new(values.Select(v => (double)v).ToArray(), null, null);

    /// <summary>A copy of category labels.</summary>
    public static PlotValues Of(IEnumerable<string> values) => new(null, null, values.ToArray());

    /// <summary>0, 1, …, count − 1: the x of a series plotted against its index.</summary>
    public static PlotValues Range(int count) =>
        new(Enumerable.Range(0, count).Select(i => (double)i).ToArray(), null, null);

    /// <summary>A copy of <paramref name="values"/>.</summary>
    public static implicit operator PlotValues(double[] values) => Of(values.AsSpan());
    /// <summary>A copy of <paramref name="values"/>.</summary>
    public static implicit operator PlotValues(float[] values) => Of(values.AsSpan());
    /// <summary>A copy of <paramref name="values"/>.</summary>
    public static implicit operator PlotValues(int[] values) => Of((IEnumerable<int>)values);
    /// <summary>A copy of <paramref name="values"/>.</summary>
    public static implicit operator PlotValues(string[] values) => Of((IEnumerable<string>)values);
    /// <summary>A copy of <paramref name="values"/>.</summary>
    public static implicit operator PlotValues(List<double> values) => Of(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(values));
    /// <summary>A copy of <paramref name="values"/>.</summary>
    public static implicit operator PlotValues(List<float> values) => Of(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(values));
    /// <summary>A copy of <paramref name="values"/>.</summary>
    public static implicit operator PlotValues(List<string> values) => Of((IEnumerable<string>)values);

    internal void Write(Utf8JsonWriter writer)
    {
        writer.WriteStartArray();
        if (doubles is not null)
        {
            foreach (double v in doubles)
            {
                if (double.IsFinite(v)) writer.WriteNumberValue(v);
                else writer.WriteNullValue();
            }
        }
        else if (singles is not null)
        {
            foreach (float v in singles)
            {
                if (float.IsFinite(v)) writer.WriteNumberValue(v);
                else writer.WriteNullValue();
            }
        }
        else
        {
            foreach (string v in labels!)
                writer.WriteStringValue(v);
        }
        writer.WriteEndArray();
    }

    private sealed class PlotValuesConverter : JsonConverter<PlotValues>
    {
        public override PlotValues Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            throw new NotSupportedException("Figures are written to Plotly JSON, not read back.");

        public override void Write(Utf8JsonWriter writer, PlotValues value, JsonSerializerOptions options) => value.Write(writer);
    }
}
