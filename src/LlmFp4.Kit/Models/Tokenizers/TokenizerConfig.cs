using System.Text.Json;

namespace LlmFp4.Kit.Models.Tokenizers;

/// <summary>
/// The parts of a Hugging Face <c>tokenizer_config.json</c> that change token ids: <c>bos_token</c> and
/// <c>eos_token</c> (a string, or an AddedToken object with <c>content</c>), <c>add_bos_token</c>,
/// <c>add_eos_token</c> and <c>tokenizer_class</c>. transformers' fast tokenizers rebuild tokenizer.json's
/// post-processor from them as the template <c>[bos] $A [eos]</c> (<c>LlamaTokenizerFast.update_post_processor</c>
/// and the classes copied from it): LLaMA, Code Llama and Gemma tokenizers always, with add_bos_token defaulting to
/// true and add_eos_token to false; other classes when either flag is given, a missing one counting as false.
/// </summary>
public sealed record TokenizerConfig(string? BosToken, string? EosToken, bool? AddBosToken, bool? AddEosToken, string? TokenizerClass)
{
    /// <summary>The file name transformers saves beside tokenizer.json.</summary>
    public const string FileName = "tokenizer_config.json";

    private static readonly string[] LlamaClasses =
        ["LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer", "CodeLlamaTokenizerFast", "GemmaTokenizer", "GemmaTokenizerFast"];

    /// <summary>Where this was read from, for error messages.</summary>
    public string Source { get; init; } = FileName;

    /// <summary>Whether the file has a bos_token entry; a null one names no BOS (without the entry, the tokenizer's own guess stands).</summary>
    public bool NamesBosToken { get; init; } = BosToken is not null;

    /// <summary>Whether the file has an eos_token entry; a null one names no EOS.</summary>
    public bool NamesEosToken { get; init; } = EosToken is not null;

    /// <summary>
    /// Whether BOS and EOS surround a sequence, when this config decides it (null: tokenizer.json's post-processor stands).
    /// </summary>
    public (bool Bos, bool Eos)? SpecialTokenTemplate =>
        LlamaClasses.Contains(TokenizerClass) ? (AddBosToken ?? true, AddEosToken ?? false)
        : AddBosToken is not null || AddEosToken is not null ? (AddBosToken ?? false, AddEosToken ?? false)
        : null;

    /// <summary>The tokenizer_config.json in the folder of <paramref name="tokenizerPath"/>, or null when there is none.</summary>
    /// <exception cref="InvalidDataException">The file is not a JSON object, or a field has the wrong type.</exception>
    public static TokenizerConfig? ReadBeside(string tokenizerPath)
    {
        string path = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(tokenizerPath))!, FileName);
        return File.Exists(path) ? Parse(File.ReadAllText(path), path) : null;
    }

    /// <summary>Reads tokenizer_config.json text; <paramref name="source"/> names it in error messages.</summary>
    /// <exception cref="InvalidDataException">Not a JSON object, or a field has the wrong type.</exception>
    public static TokenizerConfig Parse(string json, string source)
    {
        using (var document = TokenizerPipeline.ParseObject(json, source))
        {
            var root = document.RootElement;
            return new TokenizerConfig(Token(root, "bos_token", source), Token(root, "eos_token", source),
                Flag(root, "add_bos_token", source), Flag(root, "add_eos_token", source),
                root.TryGetProperty("tokenizer_class", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null)
            {
                Source = source,
                NamesBosToken = root.TryGetProperty("bos_token", out _),
                NamesEosToken = root.TryGetProperty("eos_token", out _),
            };
        }
    }

    private static string? Token(JsonElement root, string name, string source)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        if (value.ValueKind == JsonValueKind.String)
            return value.GetString();
        if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
            return content.GetString();
        throw new InvalidDataException($"{source}: {name} is neither a string nor an object with a string \"content\".");
    }

    private static bool? Flag(JsonElement root, string name, string source) =>
        !root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? null
        : value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean()
        : throw new InvalidDataException($"{source}: {name} is not true or false.");
}
