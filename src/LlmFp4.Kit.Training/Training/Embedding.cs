namespace LlmFp4.Kit.Training;

/// <summary>Token-embedding lookup and its gradient (a scatter-add into the table's rows).</summary>
public static class Embedding
{
    /// <summary>Copies row <c>tokens[t]</c> of <paramref name="table"/> ([vocab × width]) to row t of <paramref name="destination"/>.</summary>
    public static void Forward(ReadOnlySpan<float> table, int width, ReadOnlySpan<int> tokens, Span<float> destination)
    {
        Check(table.Length, width, tokens, destination.Length);
        for (int t = 0; t < tokens.Length; t++)
            table.Slice(tokens[t] * width, width).CopyTo(destination.Slice(t * width, width));
    }

    /// <summary>Adds row t of <paramref name="dy"/> to row <c>tokens[t]</c> of <paramref name="dTable"/>, tokens in order (deterministic).</summary>
    public static void Backward(ReadOnlySpan<int> tokens, ReadOnlySpan<float> dy, int width, Span<float> dTable)
    {
        Check(dTable.Length, width, tokens, dy.Length);
        for (int t = 0; t < tokens.Length; t++)
            System.Numerics.Tensors.TensorPrimitives.Add(dTable.Slice(tokens[t] * width, width), dy.Slice(t * width, width), dTable.Slice(tokens[t] * width, width));
    }

    private static void Check(int tableLength, int width, ReadOnlySpan<int> tokens, int rowsLength)
    {
        if (width <= 0 || tableLength % width != 0)
            throw new ArgumentException($"Embedding: table length {tableLength} is not a multiple of the width {width}.");
        int vocab = tableLength / width;
        if (rowsLength < (long)tokens.Length * width)
            throw new ArgumentException($"Embedding: activations have {rowsLength} elements, need {(long)tokens.Length * width}.");
        foreach (int token in tokens)
            if ((uint)token >= (uint)vocab) throw new ArgumentException($"Embedding: token id {token} is outside the vocabulary 0..{vocab - 1}.");
    }
}
