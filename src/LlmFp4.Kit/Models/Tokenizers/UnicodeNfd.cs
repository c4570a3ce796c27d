using System.Globalization;
using System.Text;

namespace LlmFp4.Kit.Models.Tokenizers;

/// <summary>
/// Unicode canonical decomposition (NFD, Unicode Standard Annex #15): every code point replaced by its full canonical
/// decomposition, Hangul syllables by the formula of Unicode chapter 3.12, then each run of combining marks put in
/// canonical order by combining class (a stable sort). The kit runs in globalization-invariant mode, where .NET's
/// <c>string.Normalize</c> returns its input unchanged, so the tables are the kit's own: UnicodeNfd.txt, written from
/// Python's unicodedata by scripts/make_unicode_nfd.py.
/// </summary>
internal static class UnicodeNfd
{
    private const int HangulBase = 0xAC00, HangulCount = 11172, LeadBase = 0x1100, VowelBase = 0x1161, TrailBase = 0x11A7,
        VowelCount = 21, TrailCount = 28;

    private static readonly Lazy<(Dictionary<int, int[]> Decompositions, Dictionary<int, byte> Classes)> Tables = new(Load);

    public static string Normalize(string text)
    {
        var (decompositions, classes) = Tables.Value;
        var runes = new List<int>(text.Length + 4);
        foreach (Rune rune in text.EnumerateRunes())
        {
            int c = rune.Value, s = c - HangulBase;
            if (s is >= 0 and < HangulCount)
            {
                runes.Add(LeadBase + s / (VowelCount * TrailCount));
                runes.Add(VowelBase + s % (VowelCount * TrailCount) / TrailCount);
                if (s % TrailCount != 0) runes.Add(TrailBase + s % TrailCount);
            }
            else if (decompositions.TryGetValue(c, out int[]? mapping)) runes.AddRange(mapping);
            else runes.Add(c);
        }
        int Class(int c) => classes.TryGetValue(c, out byte value) ? value : 0;
        for (int start = 0; start < runes.Count;)
        {
            if (Class(runes[start]) == 0)
            {
                start++;
                continue;
            }
            int end = start;
            while (end < runes.Count && Class(runes[end]) != 0) end++;
            var ordered = runes.GetRange(start, end - start).OrderBy(Class).ToList(); // OrderBy is stable
            for (int i = start; i < end; i++) runes[i] = ordered[i - start];
            start = end;
        }
        var builder = new StringBuilder(runes.Count);
        foreach (int c in runes) builder.Append(char.ConvertFromUtf32(c));
        return builder.ToString();
    }

    private static (Dictionary<int, int[]>, Dictionary<int, byte>) Load()
    {
        using var stream = typeof(UnicodeNfd).Assembly.GetManifestResourceStream("LlmFp4.Kit.UnicodeNfd.txt")
            ?? throw new InvalidOperationException("The kit's UnicodeNfd.txt resource is missing from the assembly.");
        using var reader = new StreamReader(stream);
        var decompositions = new Dictionary<int, int[]>();
        var classes = new Dictionary<int, byte>();
        static int Hex(string s) => int.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        while (reader.ReadLine() is { } line)
        {
            var fields = line.Split(' ');
            if (fields[0] == "d") decompositions[Hex(fields[1])] = fields[2..].Select(Hex).ToArray();
            else if (fields[0] == "c") classes[Hex(fields[1])] = byte.Parse(fields[2], CultureInfo.InvariantCulture);
        }
        return (decompositions, classes);
    }
}
