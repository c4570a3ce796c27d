using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace LlmFp4.Kit.Models.Tokenizers;

/// <summary>
/// A Hugging Face tokenizer.json with a WordPiece model, as BERT encoders ship it: normalizer (usually
/// <c>BertNormalizer</c>), pre-tokenizer (usually <c>BertPreTokenizer</c>), decoder (<c>WordPiece</c>), added special
/// tokens matched literally in the raw text, and <c>truncation.max_length</c>. <see cref="Encode(string)"/> gives the text's
/// ids without special tokens; <see cref="EncodeForModel"/> gives what a BERT model reads: <c>[CLS] ids [SEP]</c>,
/// truncated on the right to the maximum length, as the tokenizer's BERT post-processing and truncation do.
/// </summary>
public sealed class WordPieceTokenizer : ITokenizer
{
    /// <summary>BERT's special tokens: classification start, separator, padding, unknown and mask.</summary>
    public const string ClsToken = "[CLS]", SepToken = "[SEP]", PadToken = "[PAD]", UnkToken = "[UNK]", MaskToken = "[MASK]";

    private readonly TokenizerPipeline.Normalizer? _normalizer;
    private readonly TokenizerPipeline.PreTokenizer? _preTokenizer;
    private readonly TokenizerPipeline.Decoder? _decoder;
    private readonly string?[] _idToToken;
    private readonly Dictionary<string, AddedToken> _addedByContent;
    private readonly Regex? _addedTokenRegex;

    private WordPieceTokenizer(WordPieceModel model, IReadOnlyList<AddedToken> addedTokens, TokenizerPipeline.Normalizer? normalizer,
        TokenizerPipeline.PreTokenizer? preTokenizer, TokenizerPipeline.Decoder? decoder, int? maxLength)
    {
        Model = model;
        AddedTokens = addedTokens;
        _normalizer = normalizer;
        _preTokenizer = preTokenizer;
        _decoder = decoder;
        MaxLength = maxLength;
        int size = Math.Max(model.Vocab.Values.Max() + 1, addedTokens.Count == 0 ? 0 : addedTokens.Max(t => t.Id) + 1);
        _idToToken = new string?[size];
        foreach (var (token, id) in model.Vocab) _idToToken[id] = token;
        foreach (var token in addedTokens) _idToToken[token.Id] = token.Content;
        _addedByContent = addedTokens.GroupBy(t => t.Content).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        if (addedTokens.Count > 0)
            _addedTokenRegex = new Regex(string.Join("|", _addedByContent.Keys.OrderByDescending(c => c.Length).Select(Regex.Escape)),
                RegexOptions.CultureInvariant);
        ClsTokenId = Required(ClsToken);
        SepTokenId = Required(SepToken);
        PadTokenId = TokenToId(PadToken);

        int Required(string token) => TokenToId(token)
            ?? throw new InvalidDataException($"{model.Source}: no {token} token, which a BERT input starts or ends with.");
    }

    /// <summary>The WordPiece model: vocabulary and matching rules.</summary>
    public WordPieceModel Model { get; }
    /// <summary>tokenizer.json's <c>added_tokens</c>, matched literally in the raw text before the model runs.</summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; }
    /// <inheritdoc/>
    public int VocabSize => _idToToken.Length;
    /// <summary>Id of [CLS], the first token of every BERT input.</summary>
    public int ClsTokenId { get; }
    /// <summary>Id of [SEP], the last token of every BERT input.</summary>
    public int SepTokenId { get; }
    /// <summary>Id of [PAD], if the vocabulary has it.</summary>
    public int? PadTokenId { get; }

    /// <summary>BERT has no beginning-of-sequence token in the decoder sense; <see cref="EncodeForModel"/> adds [CLS] and [SEP].</summary>
    public int? BosTokenId => null;
    /// <summary>BERT has no end-of-sequence token in the decoder sense: null.</summary>
    public int? EosTokenId => null;

    /// <summary>Tokens a model input may hold, special tokens included (tokenizer.json <c>truncation.max_length</c>); null = no limit.</summary>
    public int? MaxLength { get; }

    /// <summary>Reads a tokenizer.json file.</summary>
    /// <exception cref="InvalidDataException">Not valid JSON, not a WordPiece model, or a field of an unsupported type (the message names both).</exception>
    public static WordPieceTokenizer Load(string path)
    {
        return Parse(TokenizerPipeline.ReadFile(path), path);
    }

    /// <summary>Reads tokenizer.json text; <paramref name="source"/> names it in error messages.</summary>
    public static WordPieceTokenizer Parse(string json, string source)
    {
        using (var document = TokenizerPipeline.ParseObject(json, source))
        {
            var root = document.RootElement;
            if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{source}: field 'model' is missing.");
            string type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "(none)";
            if (type != "WordPiece")
                throw new InvalidDataException($"{source}: model.type '{type}' is not WordPiece.");
            if (!model.TryGetProperty("vocab", out var vocabElement) || vocabElement.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{source}: model.vocab is missing or not an object.");
            var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var entry in vocabElement.EnumerateObject())
                vocab[entry.Name] = entry.Value.ValueKind == JsonValueKind.Number && entry.Value.TryGetInt32(out int id) && id >= 0 ? id
                    : throw new InvalidDataException($"{source}: model.vocab['{entry.Name}'] is not a non-negative integer id.");
            if (vocab.Count == 0) throw new InvalidDataException($"{source}: model.vocab is empty.");
            string Text(string name, string fallback) =>
                model.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : fallback;
            int maxChars = model.TryGetProperty("max_input_chars_per_word", out var m) && m.ValueKind == JsonValueKind.Number ? m.GetInt32() : 100;
            var wordPiece = new WordPieceModel(vocab, Text("unk_token", UnkToken), Text("continuing_subword_prefix", "##"), maxChars, source);

            return new WordPieceTokenizer(wordPiece, BpeTokenizer.ReadAddedTokens(root, source),
                TokenizerPipeline.ParseNormalizer(BpeTokenizer.Field(root, "normalizer"), source, "normalizer"),
                TokenizerPipeline.ParsePreTokenizer(BpeTokenizer.Field(root, "pre_tokenizer"), source, "pre_tokenizer"),
                TokenizerPipeline.ParseDecoder(BpeTokenizer.Field(root, "decoder"), source, "decoder"),
                ReadMaxLength(root, source));
        }
    }

    /// <summary>Token ids of <paramref name="text"/>, without special tokens and without truncation.</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 4 + 4);
        int last = 0;
        if (_addedTokenRegex is not null)
            foreach (var match in _addedTokenRegex.EnumerateMatches(text))
            {
                EncodeSegment(text[last..match.Index], ids);
                ids.Add(_addedByContent[text.Substring(match.Index, match.Length)].Id);
                last = match.Index + match.Length;
            }
        EncodeSegment(text[last..], ids);
        return ids.ToArray();
    }

    /// <summary>
    /// Token ids of <paramref name="text"/>; with <paramref name="addSpecialTokens"/>, framed as BERT frames a single
    /// sequence, <c>[CLS] ids [SEP]</c>, without truncation (see <see cref="EncodeForModel"/> for a model's input).
    /// </summary>
    public int[] Encode(string text, bool addSpecialTokens) => addSpecialTokens ? [ClsTokenId, .. Encode(text), SepTokenId] : Encode(text);

    /// <summary>
    /// The input of a BERT model for one text: <c>[CLS] ids [SEP]</c>, the text's ids cut on the right so the whole
    /// fits <paramref name="maxLength"/> (default <see cref="MaxLength"/>; null = no limit).
    /// </summary>
    public int[] EncodeForModel(string text, int? maxLength = null)
    {
        int[] ids = Encode(text);
        int? limit = maxLength ?? MaxLength;
        if (limit is < 2) throw new ArgumentOutOfRangeException(nameof(maxLength), $"A BERT input needs room for [CLS] and [SEP]; got a maximum of {limit} tokens.");
        int kept = limit is { } max ? Math.Min(ids.Length, max - 2) : ids.Length;
        return [ClsTokenId, .. ids.AsSpan(0, kept), SepTokenId];
    }

    /// <inheritdoc/>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var tokens = new List<string>(ids.Length);
        foreach (int id in ids)
            tokens.Add(IdToToken(id) ?? throw new ArgumentException($"{Model.Source}: token id {id} is not in the vocabulary (size {VocabSize}).", nameof(ids)));
        return string.Concat(_decoder is null ? tokens : _decoder(tokens));
    }

    /// <summary>The token string of <paramref name="id"/> (vocabulary form, e.g. "##ing"), or null.</summary>
    public string? IdToToken(int id) => (uint)id < (uint)_idToToken.Length ? _idToToken[id] : null;

    /// <summary>The id of a token string (vocabulary form) or added token, or null.</summary>
    public int? TokenToId(string token) =>
        _addedByContent.TryGetValue(token, out var added) ? added.Id : Model.Vocab.TryGetValue(token, out int id) ? id : null;

    private void EncodeSegment(string segment, List<int> ids)
    {
        if (segment.Length == 0) return;
        string normalized = _normalizer is null ? segment : _normalizer(segment);
        if (_preTokenizer is null)
        {
            Model.EncodeWord(normalized, ids);
            return;
        }
        var words = new List<string>();
        _preTokenizer(normalized, true, words);
        foreach (string word in words) Model.EncodeWord(word, ids);
    }

    private static int? ReadMaxLength(JsonElement root, string source)
    {
        if (!root.TryGetProperty("truncation", out var truncation) || truncation.ValueKind == JsonValueKind.Null) return null;
        if (truncation.TryGetProperty("direction", out var direction) && direction.GetString() is { } side && side != "Right")
            throw new InvalidDataException($"{source}: truncation.direction '{side}' is not supported (only Right).");
        return truncation.TryGetProperty("max_length", out var max) && max.TryGetInt32(out int length) && length >= 2 ? length
            : throw new InvalidDataException($"{source}: truncation.max_length is missing or below 2.");
    }

    /// <summary>
    /// The tokenizer.json of an original BERT WordPiece vocabulary (<c>vocab.txt</c> in id order), laid out as Hugging Face
    /// writes it for <c>BertTokenizerFast</c>: [PAD] [UNK] [CLS] [SEP] [MASK] as special added tokens, <c>BertNormalizer</c>
    /// (clean text, CJK splitting, accents stripped as lowercasing says), <c>BertPreTokenizer</c>, <c>[CLS] $A [SEP]</c>
    /// (and <c>[CLS] $A [SEP] $B:1 [SEP]:1</c>) post-processing, a <c>WordPiece</c> decoder and model (<c>##</c>, [UNK], 100
    /// characters per word), and right truncation at <paramref name="maxLength"/> tokens.
    /// </summary>
    public static string CreateJson(IReadOnlyList<string> vocab, bool lowercase, int maxLength)
    {
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < vocab.Count; i++)
            if (!ids.TryAdd(vocab[i], i)) throw new ArgumentException($"vocabulary: the token '{vocab[i]}' appears twice.");
        foreach (string special in new[] { PadToken, UnkToken, ClsToken, SepToken, MaskToken })
            if (!ids.ContainsKey(special)) throw new ArgumentException($"vocabulary: no {special} token.");

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("version", "1.0");
            json.WriteStartObject("truncation");
            json.WriteString("direction", "Right");
            json.WriteNumber("max_length", maxLength);
            json.WriteString("strategy", "LongestFirst");
            json.WriteNumber("stride", 0);
            json.WriteEndObject();
            json.WriteNull("padding");
            json.WriteStartArray("added_tokens");
            foreach (string special in new[] { PadToken, UnkToken, ClsToken, SepToken, MaskToken }.OrderBy(s => ids[s]))
            {
                json.WriteStartObject();
                json.WriteNumber("id", ids[special]);
                json.WriteString("content", special);
                json.WriteBoolean("single_word", false);
                json.WriteBoolean("lstrip", false);
                json.WriteBoolean("rstrip", false);
                json.WriteBoolean("normalized", false);
                json.WriteBoolean("special", true);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteStartObject("normalizer");
            json.WriteString("type", "BertNormalizer");
            json.WriteBoolean("clean_text", true);
            json.WriteBoolean("handle_chinese_chars", true);
            json.WriteNull("strip_accents");
            json.WriteBoolean("lowercase", lowercase);
            json.WriteEndObject();
            json.WriteStartObject("pre_tokenizer");
            json.WriteString("type", "BertPreTokenizer");
            json.WriteEndObject();
            json.WriteStartObject("post_processor");
            json.WriteString("type", "TemplateProcessing");
            void Piece(string kind, string id, int typeId)
            {
                json.WriteStartObject();
                json.WriteStartObject(kind);
                json.WriteString("id", id);
                json.WriteNumber("type_id", typeId);
                json.WriteEndObject();
                json.WriteEndObject();
            }
            json.WriteStartArray("single");
            Piece("SpecialToken", ClsToken, 0);
            Piece("Sequence", "A", 0);
            Piece("SpecialToken", SepToken, 0);
            json.WriteEndArray();
            json.WriteStartArray("pair");
            Piece("SpecialToken", ClsToken, 0);
            Piece("Sequence", "A", 0);
            Piece("SpecialToken", SepToken, 0);
            Piece("Sequence", "B", 1);
            Piece("SpecialToken", SepToken, 1);
            json.WriteEndArray();
            json.WriteStartObject("special_tokens");
            foreach (string special in new[] { ClsToken, SepToken })
            {
                json.WriteStartObject(special);
                json.WriteString("id", special);
                json.WriteStartArray("ids");
                json.WriteNumberValue(ids[special]);
                json.WriteEndArray();
                json.WriteStartArray("tokens");
                json.WriteStringValue(special);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteStartObject("decoder");
            json.WriteString("type", "WordPiece");
            json.WriteString("prefix", "##");
            json.WriteBoolean("cleanup", true);
            json.WriteEndObject();
            json.WriteStartObject("model");
            json.WriteString("type", "WordPiece");
            json.WriteString("unk_token", UnkToken);
            json.WriteString("continuing_subword_prefix", "##");
            json.WriteNumber("max_input_chars_per_word", 100);
            json.WriteStartObject("vocab");
            for (int i = 0; i < vocab.Count; i++) json.WriteNumber(vocab[i], i);
            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }
}
