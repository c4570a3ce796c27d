namespace LlmFp4.Kit.Models.Loading;

/// <summary>
/// Row orders of the q and k projections. Hugging Face's LLaMA rotates the two halves of each head
/// (<c>rotate_half</c>): row <c>s*d/2 + j</c> of a head of size <c>d</c> pairs with row <c>(1-s)*d/2 + j</c>.
/// Meta's original code, llama.cpp (GGUF) and llama2.c rotate adjacent pairs instead, so their
/// converters store row <c>s*d/2 + j</c> at <c>2j + s</c> (llama.cpp's <c>permute</c>, llama2.c's
/// <c>permute_reverse</c>: reshape to (heads, 2, d/2, in), swap axes 1 and 2). Both orders give the same
/// attention scores when the matching RoPE variant is used.
/// </summary>
public static class RopeLayout
{
    /// <summary>Half-split (HF) rows to adjacent-pair rows: <c>destination[h, 2j+s] = source[h, s*d/2+j]</c>.</summary>
    public static void ToInterleaved(ReadOnlySpan<float> source, int heads, int columns, Span<float> destination) =>
        Permute(source, heads, columns, destination, toInterleaved: true);

    /// <summary>Adjacent-pair rows to half-split (HF) rows: <c>destination[h, s*d/2+j] = source[h, 2j+s]</c>.</summary>
    public static void FromInterleaved(ReadOnlySpan<float> source, int heads, int columns, Span<float> destination) =>
        Permute(source, heads, columns, destination, toInterleaved: false);

    private static void Permute(ReadOnlySpan<float> source, int heads, int columns, Span<float> destination, bool toInterleaved)
    {
        if (heads <= 0 || columns <= 0 || source.Length % ((long)heads * columns) != 0 || destination.Length != source.Length)
            throw new ArgumentException($"{source.Length} values are not {heads} heads of rows of {columns} columns.");
        int rowsPerHead = source.Length / heads / columns;
        if (rowsPerHead % 2 != 0)
            throw new ArgumentException($"head dimension {rowsPerHead} must be even to permute rotary rows.");
        int half = rowsPerHead / 2;
        for (int h = 0; h < heads; h++)
        for (int s = 0; s < 2; s++)
        for (int j = 0; j < half; j++)
        {
            int halfSplitRow = h * rowsPerHead + s * half + j;
            int interleavedRow = h * rowsPerHead + 2 * j + s;
            var (from, to) = toInterleaved ? (halfSplitRow, interleavedRow) : (interleavedRow, halfSplitRow);
            source.Slice(from * columns, columns).CopyTo(destination.Slice(to * columns, columns));
        }
    }
}
