using System.Text;

namespace LlmFp4.Kit.Models.Tokenizers;

/// <summary>
/// GPT-2's reversible byte ↔ character map: printable Latin-1 bytes map to themselves, the other 68 bytes to
/// U+0100.. in byte order, so every byte string becomes a string of visible characters (space → 'Ġ').
/// </summary>
public static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = BuildByteToChar();
    private static readonly Dictionary<char, byte> CharToByte =
        Enumerable.Range(0, 256).ToDictionary(b => ByteToChar[b], b => (byte)b);

    /// <summary>The character that stands for <paramref name="b"/>.</summary>
    public static char Char(byte b) => ByteToChar[b];

    /// <summary>The characters standing for the UTF-8 bytes of <paramref name="text"/>.</summary>
    public static string Encode(ReadOnlySpan<char> text)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(text)];
        Encoding.UTF8.GetBytes(text, bytes);
        return string.Create(bytes.Length, bytes, static (chars, b) =>
        {
            for (int i = 0; i < b.Length; i++)
                chars[i] = ByteToChar[b[i]];
        });
    }

    /// <summary>
    /// Appends the bytes that <paramref name="text"/>'s characters stand for to <paramref name="destination"/>;
    /// a character outside the alphabet (e.g. in a special token's text) contributes its own UTF-8 bytes.
    /// </summary>
    public static void DecodeTo(string text, List<byte> destination)
    {
        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i < text.Length; i++)
        {
            if (CharToByte.TryGetValue(text[i], out byte b))
            {
                destination.Add(b);
                continue;
            }
            int length = char.IsSurrogatePair(text, i) ? 2 : 1;
            int n = Encoding.UTF8.GetBytes(text.AsSpan(i, length), utf8);
            for (int k = 0; k < n; k++)
                destination.Add(utf8[k]);
            i += length - 1;
        }
    }

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }
}
