using System.Text.Json;
using System.Text.Json.Serialization;

namespace LlmFp4.Kit.Models;

/// <summary>
/// config.json's <c>rope_scaling</c> (transformers 5 calls it <c>rope_parameters</c>): how the rotary frequencies are
/// rescaled, after transformers' <c>modeling_rope_utils.py</c>. Types <c>default</c>, <c>linear</c> (frequencies /
/// factor), <c>dynamic</c> (NTK scaling, which changes nothing up to max_position_embeddings, the kit's longest
/// sequence), <c>llama3</c> (Llama 3.1's per-frequency interpolation) and <c>yarn</c> (YaRN's ramp between
/// interpolated and original frequencies, cos and sin times an attention factor). The keys each type reads are the
/// ones transformers reads; any other key, and any other type (longrope, ...), is refused naming it. <c>type</c> is
/// read as <c>rope_type</c>, as transformers does; <c>finetuned</c> (older YaRN configs) is accepted and, as in
/// transformers, has no effect.
/// </summary>
[JsonConverter(typeof(RopeScalingJsonConverter))]
public sealed record RopeScaling
{
    /// <summary>rope_type (or type): "default", "linear", "dynamic", "llama3" or "yarn".</summary>
    public string RopeType { get; init; } = "default";
    /// <summary>factor: the context extension ratio s (linear: frequencies / s; llama3, yarn: the interpolation factor).</summary>
    public double? Factor { get; init; }
    /// <summary>low_freq_factor (llama3): wavelengths above original / low_freq_factor are fully interpolated.</summary>
    public double? LowFreqFactor { get; init; }
    /// <summary>high_freq_factor (llama3): wavelengths below original / high_freq_factor are kept.</summary>
    public double? HighFreqFactor { get; init; }
    /// <summary>original_max_position_embeddings, in tokens: the pre-training context (llama3, yarn; dynamic accepts it).</summary>
    public int? OriginalMaxPositionEmbeddings { get; init; }
    /// <summary>attention_factor (yarn): the factor cos and sin are multiplied by; default 0.1·ln(factor) + 1.</summary>
    public double? AttentionFactor { get; init; }
    /// <summary>beta_fast (yarn): rotations at the fast end of the ramp; 32 when absent or 0.</summary>
    public double? BetaFast { get; init; }
    /// <summary>beta_slow (yarn): rotations at the slow end of the ramp; 1 when absent or 0.</summary>
    public double? BetaSlow { get; init; }
    /// <summary>mscale (yarn): with mscale_all_dim, the attention factor is mscale(factor, mscale) / mscale(factor, mscale_all_dim).</summary>
    public double? Mscale { get; init; }
    /// <summary>mscale_all_dim (yarn): see <see cref="Mscale"/>.</summary>
    public double? MscaleAllDim { get; init; }
    /// <summary>truncate (yarn): round the correction range outward to whole dimensions; default true.</summary>
    public bool? Truncate { get; init; }
    /// <summary>finetuned (older yarn configs): accepted, no effect, as in transformers.</summary>
    public bool? Finetuned { get; init; }

    /// <summary>transformers 5's rope_parameters carry the base here; it then wins over the config's rope_theta.</summary>
    public double? RopeTheta { get; init; }

    private static readonly Dictionary<string, string[]> RequiredKeys = new()
    {
        ["default"] = [],
        ["linear"] = ["factor"],
        ["dynamic"] = ["factor"],
        ["yarn"] = ["factor"],
        ["llama3"] = ["factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"],
    };

    private static readonly Dictionary<string, string[]> OptionalKeys = new()
    {
        ["default"] = [],
        ["linear"] = [],
        ["dynamic"] = ["original_max_position_embeddings"],
        ["yarn"] = ["attention_factor", "beta_fast", "beta_slow", "original_max_position_embeddings", "mscale", "mscale_all_dim", "truncate", "finetuned"],
        ["llama3"] = [],
    };

    /// <summary>
    /// Inverse frequencies of the <paramref name="headDim"/>/2 rotated pairs and the factor cos and sin are
    /// multiplied by, in float32 as transformers computes them (<c>ROPE_INIT_FUNCTIONS[rope_type]</c>).
    /// <paramref name="maxPositionEmbeddings"/> is the config's max_position_embeddings.
    /// </summary>
    public static (float[] InverseFrequencies, float AttentionFactor) Frequencies(int headDim, double theta, RopeScaling? scaling, int maxPositionEmbeddings)
    {
        float[] inverse = DefaultFrequencies(headDim, theta);
        switch (scaling?.RopeType ?? "default")
        {
            case "default":
            case "dynamic":
                return (inverse, 1f);
            case "linear":
                for (int i = 0; i < inverse.Length; i++) inverse[i] /= (float)scaling!.Factor!.Value;
                return (inverse, 1f);
            case "llama3":
                return (Llama3(inverse, scaling!), 1f);
            case "yarn":
                return Yarn(headDim, theta, scaling!, maxPositionEmbeddings);
            default:
                throw new ArgumentException($"rope_scaling: rope_type '{scaling!.RopeType}' is not supported.");
        }
    }

    /// <summary>1 / theta^(2i/d), the exponent a float32 quotient as in torch.arange(0, d, 2).float() / d.</summary>
    private static float[] DefaultFrequencies(int headDim, double theta)
    {
        var inverse = new float[headDim / 2];
        for (int i = 0; i < inverse.Length; i++)
            inverse[i] = 1f / (float)Math.Pow(theta, (float)(2 * i) / headDim);
        return inverse;
    }

    /// <summary>
    /// Llama 3.1: wavelengths above original / low_freq_factor are divided by factor, below original /
    /// high_freq_factor kept, and in between interpolated by smooth = (original / wavelength − low) / (high − low).
    /// </summary>
    private static float[] Llama3(float[] inverse, RopeScaling s)
    {
        float factor = (float)s.Factor!.Value, low = (float)s.LowFreqFactor!.Value;
        float lowWavelength = (float)(s.OriginalMaxPositionEmbeddings!.Value / s.LowFreqFactor.Value);
        float highWavelength = (float)(s.OriginalMaxPositionEmbeddings.Value / s.HighFreqFactor!.Value);
        float span = (float)(s.HighFreqFactor.Value - s.LowFreqFactor.Value), original = s.OriginalMaxPositionEmbeddings.Value;
        var result = new float[inverse.Length];
        for (int i = 0; i < inverse.Length; i++)
        {
            float wavelength = (float)(2 * Math.PI) / inverse[i];
            float scaled = wavelength > lowWavelength ? inverse[i] / factor : inverse[i];
            float smooth = (original / wavelength - low) / span;
            bool medium = !(wavelength < highWavelength) && !(wavelength > lowWavelength);
            result[i] = medium ? (1 - smooth) * scaled / factor + smooth * scaled : scaled;
        }
        return result;
    }

    /// <summary>
    /// YaRN (arXiv 2309.00071): frequencies interpolated by factor below the correction range of
    /// [beta_fast, beta_slow] rotations, kept above it, a linear ramp between; attention factor 0.1·ln(factor) + 1
    /// (or the mscale ratio) unless given. With original_max_position_embeddings, factor is max_position_embeddings / it.
    /// </summary>
    private static (float[], float) Yarn(int headDim, double theta, RopeScaling s, int maxPositionEmbeddings)
    {
        double factor = s.Factor!.Value;
        int original = maxPositionEmbeddings;
        if (s.OriginalMaxPositionEmbeddings is int given)
        {
            original = given;
            factor = (double)maxPositionEmbeddings / given;
        }
        static double MScale(double scale, double m = 1) => scale <= 1 ? 1.0 : 0.1 * m * Math.Log(scale) + 1.0;
        double attention = s.AttentionFactor
            ?? (s.Mscale is double m && m != 0 && s.MscaleAllDim is double all && all != 0 ? MScale(factor, m) / MScale(factor, all) : MScale(factor));
        double betaFast = s.BetaFast is double f && f != 0 ? f : 32, betaSlow = s.BetaSlow is double b && b != 0 ? b : 1;
        double CorrectionDim(double rotations) => headDim * Math.Log(original / (rotations * 2 * Math.PI)) / (2 * Math.Log(theta));
        double low = CorrectionDim(betaFast), high = CorrectionDim(betaSlow);
        if (s.Truncate ?? true)
        {
            low = Math.Floor(low);
            high = Math.Ceiling(high);
        }
        low = Math.Max(low, 0);
        high = Math.Min(high, headDim - 1);
        if (low == high) high += 0.001;

        var inverse = new float[headDim / 2];
        for (int i = 0; i < inverse.Length; i++)
        {
            float position = (float)Math.Pow(theta, (float)(2 * i) / headDim);
            float extrapolation = 1f / position, interpolation = 1f / ((float)factor * position);
            float ramp = Math.Clamp((i - (float)low) / (float)(high - low), 0f, 1f);
            float extrapolationFactor = 1 - ramp;
            inverse[i] = interpolation * (1 - extrapolationFactor) + extrapolation * extrapolationFactor;
        }
        return (inverse, (float)attention);
    }

    private sealed class RopeScalingJsonConverter : JsonConverter<RopeScaling>
    {
        public override RopeScaling Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            using var document = JsonDocument.ParseValue(ref reader);
            var e = document.RootElement;
            if (e.ValueKind != JsonValueKind.Object)
                throw new JsonException("rope_scaling must be an object.");
            string type = e.TryGetProperty("rope_type", out var t) || e.TryGetProperty("type", out t)
                ? t.ValueKind == JsonValueKind.String ? t.GetString()! : throw new JsonException("rope_scaling.rope_type must be a string.")
                : "default";
            if (!RequiredKeys.TryGetValue(type, out var required))
                throw new JsonException($"rope_scaling.rope_type '{type}' is not supported (supported: {string.Join(", ", RequiredKeys.Keys)}).");
            foreach (string key in required)
                if (!e.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null)
                    throw new JsonException($"rope_scaling.{key} is required for rope_type '{type}'.");
            string[] allowed = [.. required, .. OptionalKeys[type], "rope_type", "type", "rope_theta"];
            foreach (var property in e.EnumerateObject())
                if (!allowed.Contains(property.Name))
                    throw new JsonException($"rope_scaling.{property.Name} is not a key of rope_type '{type}' (it would change or be ignored by the computation; keys: {string.Join(", ", allowed)}).");

            double? Number(string key)
            {
                if (!e.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
                return v.ValueKind == JsonValueKind.Number && v.GetDouble() is var d && double.IsFinite(d) && d >= 0
                    ? d
                    : throw new JsonException($"rope_scaling.{key} must be a non-negative number, got {v.GetRawText()}.");
            }
            bool? Flag(string key) => !e.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
                : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean()
                : throw new JsonException($"rope_scaling.{key} must be true or false.");
            int? original = Number("original_max_position_embeddings") is double o
                ? o == Math.Floor(o) && o <= int.MaxValue ? (int)o : throw new JsonException($"rope_scaling.original_max_position_embeddings must be an integer, got {o}.")
                : null;
            var scaling = new RopeScaling
            {
                RopeType = type,
                Factor = Number("factor"),
                LowFreqFactor = Number("low_freq_factor"),
                HighFreqFactor = Number("high_freq_factor"),
                OriginalMaxPositionEmbeddings = original,
                AttentionFactor = Number("attention_factor"),
                BetaFast = Number("beta_fast"),
                BetaSlow = Number("beta_slow"),
                Mscale = Number("mscale"),
                MscaleAllDim = Number("mscale_all_dim"),
                Truncate = Flag("truncate"),
                Finetuned = Flag("finetuned"),
                RopeTheta = Number("rope_theta"),
            };
            if (scaling.Factor is 0 || scaling.OriginalMaxPositionEmbeddings is 0 || scaling.LowFreqFactor is 0)
                throw new JsonException("rope_scaling: factor, low_freq_factor and original_max_position_embeddings must be positive.");
            if (type == "llama3" && scaling.HighFreqFactor <= scaling.LowFreqFactor)
                throw new JsonException($"rope_scaling.high_freq_factor {scaling.HighFreqFactor} must exceed low_freq_factor {scaling.LowFreqFactor}.");
            return scaling;
        }

        public override void Write(Utf8JsonWriter writer, RopeScaling value, JsonSerializerOptions options)
        {
            writer.WriteStartObject();
            writer.WriteString("rope_type", value.RopeType);
            void Number(string key, double? v)
            {
                if (v is double d) writer.WriteNumber(key, d);
            }
            Number("factor", value.Factor);
            Number("low_freq_factor", value.LowFreqFactor);
            Number("high_freq_factor", value.HighFreqFactor);
            Number("original_max_position_embeddings", value.OriginalMaxPositionEmbeddings);
            Number("attention_factor", value.AttentionFactor);
            Number("beta_fast", value.BetaFast);
            Number("beta_slow", value.BetaSlow);
            Number("mscale", value.Mscale);
            Number("mscale_all_dim", value.MscaleAllDim);
            Number("rope_theta", value.RopeTheta);
            if (value.Truncate is bool truncate) writer.WriteBoolean("truncate", truncate);
            if (value.Finetuned is bool finetuned) writer.WriteBoolean("finetuned", finetuned);
            writer.WriteEndObject();
        }
    }
}
