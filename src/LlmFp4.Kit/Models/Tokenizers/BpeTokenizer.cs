using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace LlmFp4.Kit.Models.Tokenizers;

/// <summary>A token of tokenizer.json's "added_tokens", matched in the raw text before normalisation.</summary>
public sealed record AddedToken(int Id, string Content, bool Special);

/// <summary>
/// A Hugging Face tokenizer.json with a BPE model: byte-level (GPT-2 style: ByteLevel pre-tokenizer and decoder)
/// or SentencePiece style (LLaMA: "▁" for spaces via a Prepend/Replace normalizer or a Metaspace pre-tokenizer,
/// &lt;0xNN&gt; byte fallback, Replace/ByteFallback/Fuse/Strip decoder). Added tokens are matched literally in
/// the input (their lstrip/rstrip/single_word flags are not applied). <see cref="Encode(string)"/> gives the ids
/// without special tokens; <see cref="Encode(string, bool)"/> with them adds what the post-processor adds (a
/// LLaMA tokenizer's BOS), as Hugging Face's encode(text) does by default. A tokenizer_config.json beside the file
/// (<see cref="TokenizerConfig"/>) names BOS and EOS and may rebuild the post-processor from add_bos_token and add_eos_token.
/// </summary>
public sealed class BpeTokenizer : ITokenizer
{
    // Words longer than this (e.g. a whole SentencePiece-style text without pre-tokenizer) are not cached.
    private const int MaxCachedWordLength = 64;
    private const int MaxCacheEntries = 1 << 18;

    private static readonly string[] BosCandidates = ["<s>", "<|begin_of_text|>", "<|startoftext|>", "<bos>", "<|endoftext|>"];
    private static readonly string[] EosCandidates = ["</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>"];

    private readonly TokenizerPipeline.Normalizer? _normalizer;
    private readonly TokenizerPipeline.PreTokenizer? _preTokenizer;
    private readonly TokenizerPipeline.Decoder? _decoder;
    private readonly TokenizerPipeline.PostProcessor? _postProcessor;
    private readonly string?[] _idToToken;
    private readonly Regex? _addedTokenRegex;
    private readonly Dictionary<string, AddedToken> _addedByContent;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);

    private BpeTokenizer(BpeModel model, IReadOnlyList<AddedToken> addedTokens, TokenizerPipeline.Normalizer? normalizer,
        TokenizerPipeline.PreTokenizer? preTokenizer, TokenizerPipeline.Decoder? decoder, TokenizerPipeline.PostProcessor? postProcessor,
        TokenizerConfig? config)
    {
        Model = model;
        AddedTokens = addedTokens;
        _normalizer = normalizer;
        _preTokenizer = preTokenizer;
        _decoder = decoder;
        int size = Math.Max(model.Vocab.Count == 0 ? 0 : model.Vocab.Values.Max() + 1, addedTokens.Count == 0 ? 0 : addedTokens.Max(t => t.Id) + 1);
        _idToToken = new string?[size];
        foreach (var (token, id) in model.Vocab)
            _idToToken[id] = token;
        foreach (var t in addedTokens)
            _idToToken[t.Id] = t.Content;
        _addedByContent = addedTokens.GroupBy(t => t.Content).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        if (addedTokens.Count > 0)
            _addedTokenRegex = new Regex(string.Join("|", _addedByContent.Keys.OrderByDescending(c => c.Length).Select(Regex.Escape)),
                RegexOptions.CultureInvariant);
        BosTokenId = config is { NamesBosToken: true } ? ConfigToken(config, "bos_token", config.BosToken) : FindToken(BosCandidates);
        EosTokenId = config is { NamesEosToken: true } ? ConfigToken(config, "eos_token", config.EosToken) : FindToken(EosCandidates);
        _postProcessor = config?.SpecialTokenTemplate is var (addBos, addEos) ? Template(config, addBos, addEos) : postProcessor;
    }

    private int? ConfigToken(TokenizerConfig config, string field, string? token) => token is null ? null
        : TokenToId(token) ?? throw new InvalidDataException($"{config.Source}: {field} '{token}' is not in the tokenizer's vocabulary.");

    /// <summary>transformers' update_post_processor: [bos] $A [eos], each where its flag is set.</summary>
    private TokenizerPipeline.PostProcessor Template(TokenizerConfig config, bool addBos, bool addEos)
    {
        int? bos = addBos ? BosTokenId ?? throw new InvalidDataException($"{config.Source}: add_bos_token is true but there is no BOS token.") : null;
        int? eos = addEos ? EosTokenId ?? throw new InvalidDataException($"{config.Source}: add_eos_token is true but there is no EOS token.") : null;
        return ids => [.. bos is int b ? [b] : Array.Empty<int>(), .. ids, .. eos is int e ? [e] : Array.Empty<int>()];
    }

    /// <summary>The BPE model: vocabulary and ranked merges.</summary>
    public BpeModel Model { get; }
    /// <summary>tokenizer.json's <c>added_tokens</c>, matched literally in the raw text before the model runs.</summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; }
    /// <inheritdoc/>
    public int VocabSize => _idToToken.Length;
    /// <inheritdoc/>
    public int? BosTokenId { get; }
    /// <inheritdoc/>
    public int? EosTokenId { get; }

    /// <summary>Reads a tokenizer.json file, and the tokenizer_config.json beside it when there is one.</summary>
    /// <exception cref="InvalidDataException">The file is not valid JSON, or a field is missing or of an unsupported type (the message names both).</exception>
    public static BpeTokenizer Load(string path)
    {
        return Parse(TokenizerPipeline.ReadFile(path), path, TokenizerConfig.ReadBeside(path));
    }

    /// <summary>
    /// Reads tokenizer.json text, with the tokenizer_config.json that goes with it if any; <paramref name="source"/>
    /// names it in error messages.
    /// </summary>
    public static BpeTokenizer Parse(string json, string source, TokenizerConfig? config = null)
    {
        using (var document = TokenizerPipeline.ParseObject(json, source))
        {
            var root = document.RootElement;
            if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{source}: field 'model' is missing.");
            string type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()!
                : model.TryGetProperty("merges", out _) ? "BPE" : "(none)";
            if (type != "BPE")
                throw new InvalidDataException($"{source}: model.type '{type}' is not supported (only BPE).");
            foreach (var name in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
                if (model.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0)
                    throw new InvalidDataException($"{source}: model.{name} '{v.GetString()}' is not supported.");
            if (model.TryGetProperty("dropout", out var dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() > 0)
                throw new InvalidDataException($"{source}: model.dropout {dropout.GetDouble()} is not supported (deterministic encoding only).");

            var bpe = new BpeModel(ReadVocab(model, source), ReadMerges(model, source),
                unkToken: model.TryGetProperty("unk_token", out var unk) && unk.ValueKind == JsonValueKind.String ? unk.GetString() : null,
                byteFallback: Flag(model, "byte_fallback"), fuseUnk: Flag(model, "fuse_unk"), ignoreMerges: Flag(model, "ignore_merges"),
                source: source);
            return new BpeTokenizer(bpe, ReadAddedTokens(root, source),
                TokenizerPipeline.ParseNormalizer(Field(root, "normalizer"), source, "normalizer"),
                TokenizerPipeline.ParsePreTokenizer(Field(root, "pre_tokenizer"), source, "pre_tokenizer"),
                TokenizerPipeline.ParseDecoder(Field(root, "decoder"), source, "decoder"),
                TokenizerPipeline.ParsePostProcessor(Field(root, "post_processor"), source, "post_processor"),
                config);
        }
    }

    /// <inheritdoc />
    public int[] Encode(string text, bool addSpecialTokens) =>
        addSpecialTokens && _postProcessor is { } postProcess ? postProcess(Encode(text)) : Encode(text);

    /// <inheritdoc/>
    public int[] Encode(string text)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        if (_addedTokenRegex is null)
        {
            EncodeSegment(text, first: true, ids);
            return ids.ToArray();
        }
        int last = 0;
        foreach (var m in _addedTokenRegex.EnumerateMatches(text))
        {
            EncodeSegment(text[last..m.Index], first: last == 0, ids);
            ids.Add(_addedByContent[text.Substring(m.Index, m.Length)].Id);
            last = m.Index + m.Length;
        }
        EncodeSegment(text[last..], first: last == 0, ids);
        return ids.ToArray();
    }

    /// <inheritdoc/>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var tokens = new List<string>(ids.Length);
        foreach (int id in ids)
            tokens.Add(IdToToken(id) ?? throw new ArgumentException($"{Model.Source}: token id {id} is not in the vocabulary (size {VocabSize}).", nameof(ids)));
        return string.Concat(_decoder is null ? tokens : _decoder(tokens));
    }

    /// <summary>The token string of <paramref name="id"/> (vocabulary form, e.g. "Ġthe"), or null.</summary>
    public string? IdToToken(int id) => (uint)id < (uint)_idToToken.Length ? _idToToken[id] : null;

    /// <summary>The id of a token string (vocabulary form) or added token, or null.</summary>
    public int? TokenToId(string token) =>
        _addedByContent.TryGetValue(token, out var added) ? added.Id
        : Model.Vocab.TryGetValue(token, out int id) ? id
        : null;

    private void EncodeSegment(string segment, bool first, List<int> ids)
    {
        if (segment.Length == 0)
            return;
        string normalized = _normalizer is null ? segment : _normalizer(segment);
        if (_preTokenizer is null)
        {
            EncodeWord(normalized, ids);
            return;
        }
        var words = new List<string>();
        _preTokenizer(normalized, first, words);
        foreach (var word in words)
            EncodeWord(word, ids);
    }

    private void EncodeWord(string word, List<int> ids)
    {
        if (word.Length > MaxCachedWordLength)
        {
            Model.EncodeWord(word, ids);
            return;
        }
        if (!_cache.TryGetValue(word, out var cached))
        {
            var encoded = new List<int>();
            Model.EncodeWord(word, encoded);
            cached = encoded.ToArray();
            if (_cache.Count < MaxCacheEntries)
                _cache.TryAdd(word, cached);
        }
        ids.AddRange(cached);
    }

    private int? FindToken(string[] candidates)
    {
        foreach (var c in candidates)
            if (TokenToId(c) is int id)
                return id;
        return null;
    }

    private static Dictionary<string, int> ReadVocab(JsonElement model, string source)
    {
        if (!model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{source}: model.vocab is missing or not an object.");
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in vocab.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0)
                throw new InvalidDataException($"{source}: model.vocab['{p.Name}'] is not a non-negative integer id.");
            result[p.Name] = id;
        }
        return result;
    }

    /// <summary>Merges in either form: "left right" strings (older files) or ["left", "right"] pairs.</summary>
    private static List<(string, string)> ReadMerges(JsonElement model, string source)
    {
        if (!model.TryGetProperty("merges", out var merges) || merges.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{source}: model.merges is missing or not an array.");
        var result = new List<(string, string)>(merges.GetArrayLength());
        int i = 0;
        foreach (var m in merges.EnumerateArray())
        {
            if (m.ValueKind == JsonValueKind.String && m.GetString()!.Split(' ') is [var l, var r])
                result.Add((l, r));
            else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2
                && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
                result.Add((m[0].GetString()!, m[1].GetString()!));
            else
                throw new InvalidDataException($"{source}: model.merges[{i}] is neither \"left right\" nor [\"left\", \"right\"].");
            i++;
        }
        return result;
    }

    internal static List<AddedToken> ReadAddedTokens(JsonElement root, string source)
    {
        var result = new List<AddedToken>();
        if (!root.TryGetProperty("added_tokens", out var added) || added.ValueKind == JsonValueKind.Null)
            return result;
        if (added.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{source}: added_tokens is not an array.");
        int i = 0;
        foreach (var t in added.EnumerateArray())
        {
            if (!t.TryGetProperty("id", out var id) || !id.TryGetInt32(out int value) || value < 0
                || !t.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String || content.GetString()!.Length == 0)
                throw new InvalidDataException($"{source}: added_tokens[{i}] needs a non-negative 'id' and a non-empty 'content'.");
            result.Add(new AddedToken(value, content.GetString()!, Flag(t, "special")));
            i++;
        }
        return result;
    }

    internal static JsonElement Field(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) ? v : NullElement;

    private static readonly JsonElement NullElement = JsonDocument.Parse("null").RootElement.Clone();

    private static bool Flag(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;
}
