namespace LlmFp4.Kit.Formats;

/// <summary>How the blocks of a <see cref="BlockScaledFormat"/> store their shared scale.</summary>
public enum BlockScaleKind
{
    /// <summary>
    /// OCP MX v1.0: an E8M0 power of two X = 2^(⌊log2 amax⌋ - emax_elem), emax_elem being the exponent of the
    /// element format's largest normal; the shared exponent is clamped to E8M0's range -127..127.
    /// </summary>
    PowerOfTwo,

    /// <summary>
    /// NVFP4: an fp32 tensor scale s = amax_tensor / (6 · 448) and per block an E4M3 scale
    /// E4M3(amax_block / 6 / s), so the block's effective scale is E4M3(amax_block / 6 / s) · s.
    /// </summary>
    E4M3WithTensorScale,
}

/// <summary>
/// A block-scaled format: consecutive blocks of <see cref="BlockSize"/> elements along each row share one scale and
/// store elements in <see cref="ElementFormat"/>. Elements convert as OCP MX prescribes: round to nearest even and
/// clamp to the element format's largest normal (even E5M2 saturates here). A row whose length is not a multiple of
/// the block size ends with a shorter block that has its own scale (the same as zero-padding the row to full blocks).
/// A block (MX) or tensor (NVFP4) whose amax is NaN or infinite becomes all NaN, as an E8M0 NaN scale does in MX.
/// </summary>
public sealed class BlockScaledFormat
{
    private const float Nvfp4ElementMax = 6f;
    private const float Nvfp4ScaleMax = 448f;

    private readonly FpGrid _elementGrid;

    private BlockScaledFormat(string name, FpFormat elementFormat, int blockSize, BlockScaleKind scaleKind)
    {
        Name = name;
        ElementFormat = elementFormat;
        BlockSize = blockSize;
        ScaleKind = scaleKind;
        _elementGrid = elementFormat.Grid.Saturating();
        ElementMaxExponent = Math.ILogB(elementFormat.MaxValue);
    }

    /// <summary>The preset's name ("MXFP4", "MXFP6-E3M2", "NVFP4", …); <see cref="Parse"/> reads it.</summary>
    public string Name { get; }
    /// <summary>The format of each element; its bias is the standard one, the block scale does the rest.</summary>
    public FpFormat ElementFormat { get; }
    /// <summary>Elements per block along a row: 32 for MX, 16 for NVFP4.</summary>
    public int BlockSize { get; }
    /// <summary>How the block scale is stored and chosen.</summary>
    public BlockScaleKind ScaleKind { get; }

    /// <summary>emax_elem: ⌊log2⌋ of the element format's largest normal (E2M1 2, E3M2 4, E2M3 2, E4M3 8, E5M2 15).</summary>
    public int ElementMaxExponent { get; }

    /// <summary>Storage per element including the amortised 8-bit block scale (MXFP4 4.25, NVFP4 4.5).</summary>
    public double BitsPerElement => ElementFormat.BitWidth + 8.0 / BlockSize;

    /// <summary>OCP MX v1.0 MXFP4: E2M1 elements, blocks of 32, E8M0 scale (4.25 bits per element).</summary>
    public static BlockScaledFormat MXFP4 { get; } = new("MXFP4", FpFormat.E2M1, 32, BlockScaleKind.PowerOfTwo);
    /// <summary>OCP MX v1.0 MXFP6 with E3M2 elements, blocks of 32, E8M0 scale.</summary>
    public static BlockScaledFormat MXFP6E3M2 { get; } = new("MXFP6-E3M2", FpFormat.E3M2, 32, BlockScaleKind.PowerOfTwo);
    /// <summary>OCP MX v1.0 MXFP6 with E2M3 elements, blocks of 32, E8M0 scale.</summary>
    public static BlockScaledFormat MXFP6E2M3 { get; } = new("MXFP6-E2M3", FpFormat.E2M3, 32, BlockScaleKind.PowerOfTwo);
    /// <summary>OCP MX v1.0 MXFP8 with E4M3 elements, blocks of 32, E8M0 scale.</summary>
    public static BlockScaledFormat MXFP8E4M3 { get; } = new("MXFP8-E4M3", FpFormat.E4M3, 32, BlockScaleKind.PowerOfTwo);
    /// <summary>OCP MX v1.0 MXFP8 with E5M2 elements (saturating here), blocks of 32, E8M0 scale.</summary>
    public static BlockScaledFormat MXFP8E5M2 { get; } = new("MXFP8-E5M2", FpFormat.E5M2, 32, BlockScaleKind.PowerOfTwo);
    /// <summary>NVIDIA NVFP4: E2M1 elements, blocks of 16, an E4M3 block scale times an fp32 tensor scale (4.5 bits per element).</summary>
    public static BlockScaledFormat NVFP4 { get; } = new("NVFP4", FpFormat.E2M1, 16, BlockScaleKind.E4M3WithTensorScale);

    /// <summary>Every preset, in the order the reports list them.</summary>
    public static IReadOnlyList<BlockScaledFormat> Presets { get; } = [MXFP4, MXFP6E3M2, MXFP6E2M3, MXFP8E4M3, MXFP8E5M2, NVFP4];

    /// <summary>A preset by <see cref="Name"/>, case-insensitive.</summary>
    /// <exception cref="ArgumentException">Unknown name; the message lists the presets.</exception>
    public static BlockScaledFormat Parse(string name) =>
        Presets.FirstOrDefault(p => string.Equals(p.Name, name?.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown block-scaled format '{name}'. Presets: {string.Join(", ", Presets.Select(p => p.Name))}.", nameof(name));

    /// <summary>
    /// Fake-quantizes a row-major [<paramref name="rows"/> × <paramref name="cols"/>] matrix block by block along
    /// each row (float32 arithmetic; see <see cref="BlockScaleKind"/> for the scales). Large matrices run in
    /// parallel over fixed row chunks with the same result as a sequential run.
    /// </summary>
    public void Quantize(ReadOnlySpan<float> x, int rows, int cols, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        if ((long)rows * cols != x.Length)
            throw new ArgumentException($"A [{rows} × {cols}] matrix has {(long)rows * cols} elements; the source has {x.Length}.", nameof(x));
        if (destination.Length != x.Length)
            throw new ArgumentException($"Destination holds {destination.Length} values, the source {x.Length}.", nameof(destination));
        if (x.IsEmpty)
            return;
        float tensorScale = ScaleKind == BlockScaleKind.E4M3WithTensorScale ? AbsMax(x) / (Nvfp4ElementMax * Nvfp4ScaleMax) : 1f;
        QuantizeRows(x, rows, cols, tensorScale, destination);
    }

    private unsafe void QuantizeRows(ReadOnlySpan<float> x, int rows, int cols, float tensorScale, Span<float> destination)
    {
        int length = x.Length;
        fixed (float* xPointer = x, destinationPointer = destination)
        {
            nint xAddress = (nint)xPointer, destinationAddress = (nint)destinationPointer;
            FakeQuant.ForEachRowChunk(rows, cols, parallel: true, (first, end) =>
            {
                var xs = new ReadOnlySpan<float>((float*)xAddress, length);
                var ds = new Span<float>((float*)destinationAddress, length);
                for (int r = first; r < end; r++)
                    for (int start = 0; start < cols; start += BlockSize)
                    {
                        int count = Math.Min(BlockSize, cols - start), offset = r * cols + start;
                        QuantizeBlock(xs.Slice(offset, count), tensorScale, ds.Slice(offset, count));
                    }
            });
        }
    }

    private void QuantizeBlock(ReadOnlySpan<float> block, float tensorScale, Span<float> destination)
    {
        float scale = BlockScale(AbsMax(block), tensorScale);
        if (float.IsNaN(scale))
            destination.Fill(float.NaN);
        else
            FakeQuant.QuantizeOnGrid(block, _elementGrid, scale, destination);
    }

    /// <summary>The decoded shared scale of a block with largest magnitude <paramref name="blockAbsMax"/>; NaN when it or the tensor scale is not finite.</summary>
    internal float BlockScale(float blockAbsMax, float tensorScale)
    {
        if (!float.IsFinite(blockAbsMax) || !float.IsFinite(tensorScale))
            return float.NaN;
        if (ScaleKind == BlockScaleKind.PowerOfTwo)
        {
            int sharedExponent = blockAbsMax == 0 ? -127 : Math.Clamp(MathF.ILogB(blockAbsMax) - ElementMaxExponent, -127, 127);
            return MathF.ScaleB(1f, sharedExponent);
        }
        if (tensorScale == 0)
            return 0f;
        return FpFormat.E4M3.Quantize(blockAbsMax / Nvfp4ElementMax / tensorScale) * tensorScale;
    }

    private static float AbsMax(ReadOnlySpan<float> x)
    {
        float max = 0f;
        foreach (float v in x)
            max = MathF.Max(max, MathF.Abs(v));
        return max;
    }

    /// <summary><see cref="Name"/>.</summary>
    public override string ToString() => Name;
}
