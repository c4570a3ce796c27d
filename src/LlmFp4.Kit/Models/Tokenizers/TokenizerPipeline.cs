using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace LlmFp4.Kit.Models.Tokenizers;

/// <summary>
/// The text stages of a Hugging Face tokenizer.json around the model: normalizer (text → text), pre-tokenizer
/// (text → words), post-processor (ids → ids with special tokens) and decoder (token strings → text). Each supported "type" is one small function; an
/// unsupported type is an error naming the file and the JSON field.
/// </summary>
internal static class TokenizerPipeline
{
    public delegate string Normalizer(string text);

    /// <summary>Splits each piece further; <c>first</c> tells whether a piece starts the input text.</summary>
    public delegate void PreTokenizer(string piece, bool first, List<string> output);

    public delegate List<string> Decoder(List<string> tokens);

    /// <summary>The GPT-2 pre-tokenization pattern (contractions, letters, digits, other symbols, white space).</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    public static readonly Regex Gpt2Regex = new(Gpt2Pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);

    public static Normalizer? ParseNormalizer(JsonElement e, string file, string field)
    {
        if (e.ValueKind == JsonValueKind.Null)
            return null;
        string type = Type(e, file, field);
        switch (type)
        {
            case "Sequence":
            {
                var steps = Array(e, "normalizers", file, field)
                    .Select((x, i) => ParseNormalizer(x, file, $"{field}.normalizers[{i}]")).OfType<Normalizer>().ToArray();
                return text => steps.Aggregate(text, (t, step) => step(t));
            }
            case "Prepend":
            {
                string prepend = String(e, "prepend", file, field);
                return text => text.Length == 0 ? text : prepend + text;
            }
            case "Replace":
            {
                var replace = ParseReplace(e, file, field);
                return text => replace(text);
            }
            case "NFC": return text => text.Normalize(NormalizationForm.FormC);
            case "NFD": return text => text.Normalize(NormalizationForm.FormD);
            case "NFKC": return text => text.Normalize(NormalizationForm.FormKC);
            case "NFKD": return text => text.Normalize(NormalizationForm.FormKD);
            case "Lowercase": return text => text.ToLowerInvariant();
            case "BertNormalizer": return BertText.ParseNormalizer(e, file, field);
            default: throw Unsupported(file, field, type, "Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase, BertNormalizer");
        }
    }

    public static PreTokenizer? ParsePreTokenizer(JsonElement e, string file, string field)
    {
        if (e.ValueKind == JsonValueKind.Null)
            return null;
        string type = Type(e, file, field);
        switch (type)
        {
            case "Sequence":
            {
                var steps = Array(e, "pretokenizers", file, field)
                    .Select((x, i) => ParsePreTokenizer(x, file, $"{field}.pretokenizers[{i}]")).OfType<PreTokenizer>().ToArray();
                return (piece, first, output) =>
                {
                    var pieces = new List<string> { piece };
                    foreach (var step in steps)
                    {
                        var split = new List<string>();
                        for (int i = 0; i < pieces.Count; i++)
                            step(pieces[i], first && i == 0, split);
                        pieces = split;
                    }
                    output.AddRange(pieces);
                };
            }
            case "ByteLevel":
            {
                bool addPrefixSpace = Bool(e, "add_prefix_space", false);
                bool useRegex = Bool(e, "use_regex", true);
                return (piece, _, output) =>
                {
                    if (addPrefixSpace && !piece.StartsWith(' '))
                        piece = " " + piece;
                    if (!useRegex)
                    {
                        output.Add(ByteLevelAlphabet.Encode(piece));
                        return;
                    }
                    foreach (var m in Gpt2Regex.EnumerateMatches(piece))
                        output.Add(ByteLevelAlphabet.Encode(piece.AsSpan(m.Index, m.Length)));
                };
            }
            case "Metaspace":
            {
                string replacement = String(e, "replacement", file, field);
                string scheme = e.TryGetProperty("prepend_scheme", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString()!
                    : Bool(e, "add_prefix_space", true) ? "always" : "never";
                if (scheme is not ("always" or "first" or "never"))
                    throw new InvalidDataException($"{file}: {field}.prepend_scheme '{scheme}' is not one of always, first, never.");
                bool split = Bool(e, "split", true);
                return (piece, first, output) =>
                {
                    piece = piece.Replace(" ", replacement);
                    if ((scheme == "always" || (scheme == "first" && first)) && piece.Length > 0 && !piece.StartsWith(replacement))
                        piece = replacement + piece;
                    if (!split)
                    {
                        output.Add(piece);
                        return;
                    }
                    // Each word keeps the replacement character that precedes it ("MergedWithNext").
                    int start = 0;
                    for (int i = piece.IndexOf(replacement, 1, StringComparison.Ordinal); i > 0; i = piece.IndexOf(replacement, i + 1, StringComparison.Ordinal))
                    {
                        output.Add(piece[start..i]);
                        start = i;
                    }
                    if (start < piece.Length)
                        output.Add(piece[start..]);
                };
            }
            case "Split":
            {
                var regex = Pattern(e, file, field);
                string behavior = String(e, "behavior", file, field);
                if (Bool(e, "invert", false))
                    throw new InvalidDataException($"{file}: {field}.invert = true is not supported.");
                if (behavior is not ("Isolated" or "Removed" or "MergedWithPrevious" or "MergedWithNext"))
                    throw new InvalidDataException($"{file}: {field}.behavior '{behavior}' is not supported (Isolated, Removed, MergedWithPrevious, MergedWithNext).");
                return (piece, _, output) => SplitByPattern(piece, regex, behavior, output);
            }
            case "BertPreTokenizer":
                return BertText.PreTokenize;
            default:
                throw Unsupported(file, field, type, "Sequence, ByteLevel, Metaspace, Split, BertPreTokenizer");
        }
    }

    public static Decoder? ParseDecoder(JsonElement e, string file, string field)
    {
        if (e.ValueKind == JsonValueKind.Null)
            return null;
        string type = Type(e, file, field);
        switch (type)
        {
            case "Sequence":
            {
                var steps = Array(e, "decoders", file, field)
                    .Select((x, i) => ParseDecoder(x, file, $"{field}.decoders[{i}]")).OfType<Decoder>().ToArray();
                return tokens => steps.Aggregate(tokens, (t, step) => step(t));
            }
            case "ByteLevel":
                return tokens =>
                {
                    var bytes = new List<byte>();
                    foreach (var token in tokens)
                        ByteLevelAlphabet.DecodeTo(token, bytes);
                    return [Encoding.UTF8.GetString(bytes.ToArray())];
                };
            case "Replace":
            {
                var replace = ParseReplace(e, file, field);
                return tokens => tokens.ConvertAll(t => replace(t));
            }
            case "ByteFallback":
                return DecodeByteFallback;
            case "Fuse":
                return tokens => [string.Concat(tokens)];
            case "Strip":
            {
                string content = String(e, "content", file, field);
                if (content.Length != 1)
                    throw new InvalidDataException($"{file}: {field}.content must be one character.");
                int start = Int(e, "start", file, field), stop = Int(e, "stop", file, field);
                return tokens => tokens.ConvertAll(t => Strip(t, content[0], start, stop));
            }
            case "Metaspace":
            {
                string replacement = String(e, "replacement", file, field);
                bool stripFirst = e.TryGetProperty("prepend_scheme", out var s) && s.ValueKind == JsonValueKind.String
                    ? s.GetString() != "never"
                    : Bool(e, "add_prefix_space", true);
                return tokens => tokens.Select((t, i) =>
                {
                    t = t.Replace(replacement, " ");
                    return i == 0 && stripFirst && t.StartsWith(' ') ? t[1..] : t;
                }).ToList();
            }
            case "WordPiece":
                return BertText.ParseWordPieceDecoder(e, file, field);
            default:
                throw Unsupported(file, field, type, "Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, WordPiece");
        }
    }

    /// <summary>
    /// Adds the special tokens of a single sequence around its ids, as Hugging Face's encode(text) does with
    /// add_special_tokens = true.
    /// </summary>
    public delegate int[] PostProcessor(int[] ids);

    /// <summary>
    /// tokenizer.json's "post_processor" for one sequence (the Rust tokenizers' processors): TemplateProcessing
    /// applies its "single" template, each SpecialToken piece contributing the ids that "special_tokens" lists for
    /// it; RobertaProcessing and BertProcessing put the "cls" id before and the "sep" id after; ByteLevel changes
    /// only offsets, so it adds nothing; Sequence applies its "processors" in turn. Null when the field is null.
    /// </summary>
    /// <exception cref="InvalidDataException">An unsupported type or a malformed field (the message names the file and field).</exception>
    public static PostProcessor? ParsePostProcessor(JsonElement e, string file, string field)
    {
        if (e.ValueKind == JsonValueKind.Null)
            return null;
        string type = Type(e, file, field);
        switch (type)
        {
            case "TemplateProcessing":
            {
                var pieces = Array(e, "single", file, field).Select((piece, i) => TemplatePiece(e, piece, file, $"{field}.single[{i}]")).ToArray();
                return ids => [.. pieces.SelectMany(piece => piece ?? ids)];
            }
            case "RobertaProcessing":
            case "BertProcessing":
            {
                int cls = SpecialTokenPair(e, "cls", file, field), sep = SpecialTokenPair(e, "sep", file, field);
                return ids => [cls, .. ids, sep];
            }
            case "ByteLevel":
                return ids => ids;
            case "Sequence":
            {
                var steps = Array(e, "processors", file, field)
                    .Select((x, i) => ParsePostProcessor(x, file, $"{field}.processors[{i}]")).OfType<PostProcessor>().ToArray();
                return ids => steps.Aggregate(ids, (current, step) => step(current));
            }
            default:
                throw Unsupported(file, field, type, "TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel, Sequence");
        }
    }

    /// <summary>The ids a template piece stands for: a special token's ids, or null for the sequence itself ($A).</summary>
    private static int[]? TemplatePiece(JsonElement template, JsonElement piece, string file, string field)
    {
        if (piece.ValueKind == JsonValueKind.Object && piece.TryGetProperty("Sequence", out var sequence))
        {
            string id = String(sequence, "id", file, $"{field}.Sequence");
            return id == "A" ? null : throw new InvalidDataException($"{file}: {field} is sequence ${id}; a single-sequence template has only $A.");
        }
        if (piece.ValueKind != JsonValueKind.Object || !piece.TryGetProperty("SpecialToken", out var special))
            throw new InvalidDataException($"{file}: {field} is neither a \"Sequence\" nor a \"SpecialToken\" piece.");
        string name = String(special, "id", file, $"{field}.SpecialToken");
        if (!template.TryGetProperty("special_tokens", out var tokens) || tokens.ValueKind != JsonValueKind.Object
            || !tokens.TryGetProperty(name, out var token))
            throw new InvalidDataException($"{file}: {field} names special token '{name}', which special_tokens does not define.");
        return [.. Array(token, "ids", file, $"special_tokens['{name}']").Select(id =>
            id.ValueKind == JsonValueKind.Number && id.TryGetInt32(out int value) && value >= 0 ? value
            : throw new InvalidDataException($"{file}: special_tokens['{name}'].ids holds {id.GetRawText()}, not a token id."))];
    }

    /// <summary>The id of a ["token", id] pair (RobertaProcessing and BertProcessing "cls" and "sep").</summary>
    private static int SpecialTokenPair(JsonElement e, string name, string file, string field) =>
        e.TryGetProperty(name, out var pair) && pair.ValueKind == JsonValueKind.Array && pair.GetArrayLength() == 2
        && pair[0].ValueKind == JsonValueKind.String && pair[1].ValueKind == JsonValueKind.Number && pair[1].TryGetInt32(out int id) && id >= 0
            ? id
            : throw new InvalidDataException($"{file}: {field}.{name} is not a [\"token\", id] pair.");

    /// <summary>
    /// Turns runs of &lt;0xNN&gt; tokens into the text their bytes encode; a run that is not valid UTF-8 becomes
    /// one U+FFFD per byte, as the Hugging Face decoder does.
    /// </summary>
    private static List<string> DecodeByteFallback(List<string> tokens)
    {
        var output = new List<string>(tokens.Count);
        var pending = new List<byte>();
        foreach (var token in tokens)
        {
            if (token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
                && byte.TryParse(token.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out byte b))
            {
                pending.Add(b);
                continue;
            }
            Flush();
            output.Add(token);
        }
        Flush();
        return output;

        void Flush()
        {
            if (pending.Count == 0)
                return;
            try
            {
                output.Add(new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(pending.ToArray()));
            }
            catch (DecoderFallbackException)
            {
                output.Add(new string('\uFFFD', pending.Count));
            }
            pending.Clear();
        }
    }

    private static void SplitByPattern(string piece, Regex regex, string behavior, List<string> output)
    {
        int last = 0;
        string? carry = null; // a match waiting to be merged with the next gap
        foreach (var m in regex.EnumerateMatches(piece))
        {
            if (m.Length == 0)
                continue;
            string gap = piece[last..m.Index], match = piece.Substring(m.Index, m.Length);
            last = m.Index + m.Length;
            switch (behavior)
            {
                case "Isolated":
                    Add(gap);
                    Add(match);
                    break;
                case "Removed":
                    Add(gap);
                    break;
                case "MergedWithPrevious":
                    Add(gap + match);
                    break;
                default: // MergedWithNext
                    Add((carry ?? "") + gap);
                    carry = match;
                    break;
            }
        }
        Add((carry ?? "") + piece[last..]);

        void Add(string s)
        {
            if (s.Length > 0)
                output.Add(s);
        }
    }

    private static string Strip(string token, char c, int start, int stop)
    {
        int from = 0, to = token.Length;
        while (from < to && from < start && token[from] == c)
            from++;
        while (to > from && token.Length - to < stop && token[to - 1] == c)
            to--;
        return token[from..to];
    }

    private static Func<string, string> ParseReplace(JsonElement e, string file, string field)
    {
        var regex = Pattern(e, file, field);
        string content = String(e, "content", file, field);
        return text => regex.Replace(text, content.Replace("$", "$$"));
    }

    /// <summary>A {"String": s} pattern (matched literally) or {"Regex": r} pattern, as a .NET regex.</summary>
    private static Regex Pattern(JsonElement e, string file, string field)
    {
        if (!e.TryGetProperty("pattern", out var p) || p.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{file}: {field}.pattern is missing or not an object.");
        try
        {
            if (p.TryGetProperty("String", out var s) && s.ValueKind == JsonValueKind.String)
                return new Regex(Regex.Escape(s.GetString()!), RegexOptions.CultureInvariant);
            if (p.TryGetProperty("Regex", out var r) && r.ValueKind == JsonValueKind.String)
                return new Regex(r.GetString()!, RegexOptions.Compiled | RegexOptions.CultureInvariant);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException($"{file}: {field}.pattern is not a regular expression .NET can read ({ex.Message}).", ex);
        }
        throw new InvalidDataException($"{file}: {field}.pattern has neither a \"String\" nor a \"Regex\" entry.");
    }

    /// <summary>The text of a tokenizer file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist (the message names it).</exception>
    public static string ReadFile(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (FileNotFoundException ex)
        {
            throw new FileNotFoundException($"Tokenizer file '{path}' does not exist.", path, ex);
        }
    }

    /// <summary>A tokenizer file's JSON, whose top level must be an object; errors name <paramref name="source"/>.</summary>
    /// <exception cref="InvalidDataException">Not valid JSON, or not an object.</exception>
    public static JsonDocument ParseObject(string json, string source)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{source}: not valid JSON ({ex.Message}).", ex);
        }
        if (document.RootElement.ValueKind == JsonValueKind.Object)
            return document;
        document.Dispose();
        throw new InvalidDataException($"{source}: the top level is not a JSON object.");
    }

    private static string Type(JsonElement e, string file, string field) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String
            ? t.GetString()!
            : throw new InvalidDataException($"{file}: {field} has no \"type\".");

    private static IEnumerable<JsonElement> Array(JsonElement e, string name, string file, string field) =>
        e.TryGetProperty(name, out var a) && a.ValueKind == JsonValueKind.Array
            ? a.EnumerateArray()
            : throw new InvalidDataException($"{file}: {field}.{name} is missing or not an array.");

    private static string String(JsonElement e, string name, string file, string field) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()!
            : throw new InvalidDataException($"{file}: {field}.{name} is missing or not a string.");

    private static int Int(JsonElement e, string name, string file, string field) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i)
            ? i
            : throw new InvalidDataException($"{file}: {field}.{name} is missing or not an integer.");

    private static bool Bool(JsonElement e, string name, bool fallback) =>
        e.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : fallback;

    private static InvalidDataException Unsupported(string file, string field, string type, string supported) =>
        new($"{file}: {field}.type '{type}' is not supported (supported: {supported}).");
}
