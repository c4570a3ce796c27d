using System.Globalization;
using System.Text;
using System.Text.Json;

namespace LlmFp4.Kit.Models.Tokenizers;

/// <summary>
/// The text stages of a BERT tokenizer.json: the <c>BertNormalizer</c>, the <c>BertPreTokenizer</c> and the
/// <c>WordPiece</c> decoder, with the semantics of Hugging Face tokenizers (tokenizers/src/normalizers/bert.rs,
/// pre_tokenizers/bert.rs, decoders/wordpiece.rs), which reproduce Google BERT's BasicTokenizer. Text is handled
/// by Unicode code point, as the reference does with Rust chars.
/// </summary>
internal static class BertText
{
    /// <summary>Reads a <c>BertNormalizer</c> (clean_text, handle_chinese_chars, strip_accents, lowercase).</summary>
    public static TokenizerPipeline.Normalizer ParseNormalizer(JsonElement e, string file, string field)
    {
        bool Flag(string name, bool fallback) =>
            !e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? fallback
            : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean()
            : throw new InvalidDataException($"{file}: {field}.{name} is not true, false or null.");
        bool clean = Flag("clean_text", true), chinese = Flag("handle_chinese_chars", true), lowercase = Flag("lowercase", true);
        // strip_accents null means "as lowercase" (the uncased BERT models strip accents, the cased ones keep them).
        bool stripAccents = Flag("strip_accents", lowercase);
        return text => Normalize(text, clean, chinese, stripAccents, lowercase);
    }

    /// <summary>
    /// BERT's normalisation, in this order: drop NUL, U+FFFD and control / format / unassigned / private-use code points
    /// and map white space to ' ' (clean text); put spaces around CJK ideographs; decompose (NFD) and drop non-spacing
    /// marks (strip accents); lowercase character by character.
    /// </summary>
    public static string Normalize(string text, bool cleanText, bool handleChineseChars, bool stripAccents, bool lowercase)
    {
        var builder = new StringBuilder(text.Length + 8);
        foreach (Rune rune in text.EnumerateRunes())
        {
            if (cleanText)
            {
                if (rune.Value is 0 or 0xFFFD || IsControl(rune)) continue;
                if (IsWhiteSpace(rune))
                {
                    builder.Append(' ');
                    continue;
                }
            }
            if (handleChineseChars && IsChinese(rune.Value)) builder.Append(' ').Append(rune.ToString()).Append(' ');
            else builder.Append(rune.ToString());
        }
        string result = builder.ToString();
        if (stripAccents)
        {
            builder.Clear();
            foreach (Rune rune in UnicodeNfd.Normalize(result).EnumerateRunes())
                if (Rune.GetUnicodeCategory(rune) != UnicodeCategory.NonSpacingMark) builder.Append(rune.ToString());
            result = builder.ToString();
        }
        return lowercase ? Lowercase(result) : result;
    }

    /// <summary>
    /// The <c>BertPreTokenizer</c>: splits on white space (removed) and isolates every punctuation character, where
    /// punctuation is ASCII punctuation or a Unicode P* category. BERT never treats the first piece differently.
    /// </summary>
    public static void PreTokenize(string piece, bool first, List<string> output)
    {
        int start = -1;
        int index = 0;
        foreach (Rune rune in piece.EnumerateRunes())
        {
            int length = rune.Utf16SequenceLength;
            if (IsWhiteSpace(rune) || IsPunctuation(rune))
            {
                if (start >= 0) output.Add(piece[start..index]);
                start = -1;
                if (!IsWhiteSpace(rune)) output.Add(piece.Substring(index, length));
            }
            else if (start < 0)
                start = index;
            index += length;
        }
        if (start >= 0) output.Add(piece[start..]);
    }

    /// <summary>
    /// The <c>WordPiece</c> decoder: tokens joined by spaces except that a token starting with the prefix (default
    /// <c>##</c>) is glued to the previous one without it; with <c>cleanup</c> (default true) each piece then loses the
    /// spaces before . ? ! , and English contractions, as Hugging Face does.
    /// </summary>
    public static TokenizerPipeline.Decoder ParseWordPieceDecoder(JsonElement e, string file, string field)
    {
        string prefix = e.TryGetProperty("prefix", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString()! : "##";
        bool cleanup = !e.TryGetProperty("cleanup", out var c) || c.ValueKind != JsonValueKind.False;
        if (prefix.Length == 0) throw new InvalidDataException($"{file}: {field}.prefix is empty.");
        return tokens => tokens.Select((token, i) =>
        {
            if (i > 0) token = token.StartsWith(prefix, StringComparison.Ordinal) ? token[prefix.Length..] : " " + token;
            return cleanup ? Cleanup(token) : token;
        }).ToList();
    }

    private static string Cleanup(string text) => text
        .Replace(" .", ".").Replace(" ?", "?").Replace(" !", "!").Replace(" ,", ",").Replace(" ' ", "'")
        .Replace(" n't", "n't").Replace(" 'm", "'m").Replace(" do not", " don't").Replace(" 's", "'s")
        .Replace(" 've", "'ve").Replace(" 're", "'re");

    /// <summary>Rust's <c>char::is_whitespace</c> (the Unicode White_Space property), which .NET's char test matches.</summary>
    private static bool IsWhiteSpace(Rune rune) => Rune.IsWhiteSpace(rune);

    /// <summary>Any "Other" category (Cc, Cf, Cs, Co, Cn) except tab, newline and carriage return, which count as white space.</summary>
    private static bool IsControl(Rune rune) =>
        rune.Value is not ('\t' or '\n' or '\r') && Rune.GetUnicodeCategory(rune) is UnicodeCategory.Control or UnicodeCategory.Format
            or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;

    private static bool IsPunctuation(Rune rune) =>
        rune.Value is >= 33 and <= 47 or >= 58 and <= 64 or >= 91 and <= 96 or >= 123 and <= 126
        || Rune.GetUnicodeCategory(rune) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;

    /// <summary>The CJK Unified Ideographs blocks BERT splits character by character (not Hangul, Hiragana or Katakana).</summary>
    private static bool IsChinese(int c) =>
        c is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B920 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;

    /// <summary>
    /// Lowercasing character by character as Hugging Face's <c>NormalizedString::lowercase</c> does (Rust's
    /// <c>char::to_lowercase</c>): the simple mapping, except that İ becomes "i̇", the one unconditional two-character
    /// lowercase in Unicode's SpecialCasing; no context rules, so Σ is always σ.
    /// </summary>
    private static string Lowercase(string text)
    {
        var builder = new StringBuilder(text.Length);
        foreach (Rune rune in text.EnumerateRunes())
            builder.Append(rune.Value == 'İ' ? "i\u0307" : Rune.ToLowerInvariant(rune).ToString());
        return builder.ToString();
    }
}
