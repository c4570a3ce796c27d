using System.Text.Json;

namespace LlmFp4.Kit.Models;

/// <summary>
/// How <see cref="TextGenerator"/> continues a prompt. Temperature 0 is greedy decoding (arg-max, lowest id on
/// ties); otherwise tokens are drawn from the softmax of logits / temperature, restricted to the
/// <see cref="TopK"/> most likely tokens and then to the smallest set whose probability reaches
/// <see cref="TopP"/>, with a <see cref="Random"/> seeded by <see cref="Seed"/>: same settings, same text.
/// </summary>
public sealed record GenerationSettings
{
    /// <summary>Most tokens appended to the prompt.</summary>
    public int MaxNewTokens { get; init; } = 64;

    /// <summary>Softmax temperature; 0 = greedy.</summary>
    public double Temperature { get; init; }

    /// <summary>Sample only among the K most likely tokens; 0 = all.</summary>
    public int TopK { get; init; }

    /// <summary>Nucleus sampling: the smallest set of most likely tokens whose probability reaches P; 1 = all.</summary>
    public double TopP { get; init; } = 1.0;

    /// <summary>Seed of the <see cref="Random"/> that draws tokens when <see cref="Temperature"/> > 0.</summary>
    public int Seed { get; init; }

    /// <summary>Stop at the tokenizer's end-of-sequence token or any of the model config's eos_token_id (it is not part of the output).</summary>
    public bool StopAtEos { get; init; } = true;

    /// <summary>Greedy decoding of up to <paramref name="maxNewTokens"/> tokens.</summary>
    public static GenerationSettings Greedy(int maxNewTokens) => new() { MaxNewTokens = maxNewTokens };

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting out of range.</summary>
    public void Validate()
    {
        if (MaxNewTokens < 0) throw new ArgumentException($"generation: max_new_tokens must be ≥ 0, got {MaxNewTokens}.");
        if (!(Temperature >= 0) || double.IsInfinity(Temperature)) throw new ArgumentException($"generation: temperature must be finite and ≥ 0, got {Temperature}.");
        if (TopK < 0) throw new ArgumentException($"generation: top_k must be ≥ 0, got {TopK}.");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"generation: top_p must be in (0, 1], got {TopP}.");
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    /// <summary>The settings as indented JSON with snake_case names (max_new_tokens, temperature, top_k, top_p, seed, stop_at_eos).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Parses settings written by <see cref="ToJson"/>; <paramref name="source"/> names the text in errors.</summary>
    public static GenerationSettings FromJson(string json, string source = "generation settings")
    {
        GenerationSettings? settings;
        try { settings = JsonSerializer.Deserialize<GenerationSettings>(json, JsonOptions); }
        catch (JsonException ex) { throw new InvalidDataException($"{source}: not valid generation settings ({ex.Message})", ex); }
        if (settings is null) throw new InvalidDataException($"{source}: empty.");
        try { settings.Validate(); }
        catch (ArgumentException ex) { throw new InvalidDataException($"{source}: {ex.Message}", ex); }
        return settings;
    }
}
