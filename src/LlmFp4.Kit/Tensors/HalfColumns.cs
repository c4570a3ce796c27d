namespace LlmFp4.Kit.Tensors;

/// <summary>
/// A binary16 weight W [<see cref="Outputs"/> × <see cref="Inputs"/>] (a linear layer's [out × in]) held transposed,
/// input-major [in × out], for one-token products (<see cref="ManagedGemm.RowTimesHalfColumns"/>). A matrix-vector
/// product that keeps the GEMM's summation order (per output, k ascending) reads W one input at a time across the
/// outputs; in this layout those values are contiguous, so the product reads and widens them in place instead of
/// transposing 16×16 blocks of the stored [out × in] rows on every token. Built once per weight (2 bytes per weight).
/// </summary>
internal sealed class HalfColumns
{
    private HalfColumns(Half[] values, int outputs, int inputs) => (Values, Outputs, Inputs) = (values, outputs, inputs);

    /// <summary>Wᵀ, [Inputs × Outputs] row-major: element [k, o] is W[o, k].</summary>
    public Half[] Values { get; }

    /// <summary>Rows of W (output features), the columns of <see cref="Values"/>.</summary>
    public int Outputs { get; }

    /// <summary>Columns of W (input features), the rows of <see cref="Values"/>.</summary>
    public int Inputs { get; }

    /// <summary>
    /// <paramref name="weight"/> ([<paramref name="outputs"/> × <paramref name="inputs"/>] row-major) transposed, or null
    /// when it holds ±∞ or NaN: the product widens with <see cref="ManagedGemm.WidenFiniteHalf"/>, which is exact for
    /// finite values only, and such a weight takes the converting path.
    /// </summary>
    /// <exception cref="ArgumentException">The weight does not have outputs · inputs values, or a dimension is not positive.</exception>
    public static HalfColumns? FromRows(ReadOnlySpan<Half> weight, int outputs, int inputs)
    {
        if (outputs <= 0 || inputs <= 0 || weight.Length != (long)outputs * inputs)
            throw new ArgumentException($"HalfColumns: {weight.Length} values for a [{outputs} × {inputs}] weight.");
        const int tile = 64; // tiles of both matrices stay in L1 while they are copied
        var values = new Half[weight.Length];
        for (int o0 = 0; o0 < outputs; o0 += tile)
            for (int k0 = 0; k0 < inputs; k0 += tile)
                for (int o = o0; o < Math.Min(outputs, o0 + tile); o++)
                    for (int k = k0; k < Math.Min(inputs, k0 + tile); k++)
                    {
                        Half value = weight[o * inputs + k];
                        if (!Half.IsFinite(value)) return null;
                        values[k * outputs + o] = value;
                    }
        return new HalfColumns(values, outputs, inputs);
    }
}
