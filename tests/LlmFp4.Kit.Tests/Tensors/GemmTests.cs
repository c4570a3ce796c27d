using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Tests.Tensors;

public class GemmTests
{
    public static TheoryData<string> Backends()
    {
        var data = new TheoryData<string> { "managed512", "managed256", "managed1thread" };
        if (OpenBlasGemm.TryLoad() is not null) data.Add("openblas");
        return data;
    }

    private static IGemmBackend Create(string backend) => backend switch
    {
        "managed512" => new ManagedGemm(useVector512: true, threads: 2),
        "managed256" => new ManagedGemm(useVector512: false, threads: 2),
        "managed1thread" => new ManagedGemm(useVector512: true, threads: 1),
        "openblas" => OpenBlasGemm.TryLoad()!,
        _ => throw new ArgumentException(backend),
    };

    private static readonly (int M, int N, int K)[] Shapes =
    [
        (1, 1, 1), (7, 33, 257), (257, 7, 33), (33, 257, 7), (1, 257, 33), (257, 1, 7), (33, 33, 257), (257, 33, 257),
    ];

    private static float[] Random(int length, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void MatchesNaiveReferenceForAllTransposesAndOddShapes(string backend)
    {
        var gemm = Create(backend);
        var naive = new NaiveGemm();
        foreach (var (m, n, k) in Shapes)
            foreach (bool transposeA in new[] { false, true })
                foreach (bool transposeB in new[] { false, true })
                {
                    float[] a = Random(m * k, 1), b = Random(k * n, 2), c = Random(m * n, 3);
                    float[] expected = (float[])c.Clone();
                    naive.MatMul(a, b, expected, m, n, k, transposeA, transposeB, 0.75f, 0.5f);
                    gemm.MatMul(a, b, c, m, n, k, transposeA, transposeB, 0.75f, 0.5f);
                    for (int i = 0; i < c.Length; i++)
                        Assert.True(Math.Abs(c[i] - expected[i]) <= 1e-5f * (1 + MathF.Sqrt(k)),
                            $"{backend} m={m} n={n} k={k} tA={transposeA} tB={transposeB} at {i}: {c[i]} vs {expected[i]}");
                }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void BetaZeroOverwritesNaNAndEmptySumScalesC(string backend)
    {
        var gemm = Create(backend);
        float[] a = Random(7 * 5, 4), b = Random(5 * 9, 5), expected = new float[63];
        new NaiveGemm().MatMul(a, b, expected, 7, 9, 5, false, false, 1, 0);
        float[] c = Enumerable.Repeat(float.NaN, 63).ToArray();
        gemm.MatMul(a, b, c, 7, 9, 5, false, false, 1, 0);
        for (int i = 0; i < c.Length; i++) Assert.Equal(expected[i], c[i], 1e-5f);

        float[] kept = Enumerable.Repeat(2f, 6).ToArray();
        gemm.MatMul([], [], kept, 2, 3, 0, false, false, 1, 0.5f);
        Assert.All(kept, value => Assert.Equal(1f, value));
    }

    [Fact]
    public void ManagedResultsAreBitIdenticalAcrossThreadsAndBatchRows()
    {
        int m = 300, n = 70, k = 600;
        float[] a = Random(m * k, 6), b = Random(n * k, 7);
        float[] serial = new float[m * n], parallel = new float[m * n];
        new ManagedGemm(true, 1).MatMul(a, b, serial, m, n, k, false, true, 1, 0);
        new ManagedGemm(true, 2).MatMul(a, b, parallel, m, n, k, false, true, 1, 0);
        Assert.Equal(serial, parallel);

        // A single row computed alone equals the same row inside the large product.
        float[] row = new float[n];
        new ManagedGemm(true, 2).MatMul(a.AsSpan(37 * k, k), b, row, 1, n, k, false, true, 1, 0);
        Assert.Equal(serial.AsSpan(37 * n, n).ToArray(), row);
    }

    /// <summary>
    /// The managed kernel's bytes do not depend on the machine: Vector512 and Vector256 kernels, the matrix-vector path
    /// (one row), one or two threads and the scalar definition of its summation order agree bit for bit, for every
    /// transpose, edge tiles, depth tails, more than one depth block, B packed in several passes (n = 1100: 282 K
    /// packed floats per depth block, over the 256 K budget, so each of the three blocks is a pass), and a B stored [k×n]
    /// read in place (n = 32 or 64 on both widths, and n = 16 on Vector256, whose strips are 16 wide; n = 256 over five
    /// depth blocks). A transposed A's whole panels are packed together and go through the Vector512 kernel two row panels
    /// at a time, the second one partial at m = 45. One row of A with B stored [n×k] (decoding) takes B's 16×16 blocks
    /// transposed in registers into its FMAs, with depth tails (k = 530 over three depth blocks, k = 17) and a last strip
    /// of fewer than 16 outputs (n = 300, 1000).
    /// </summary>
    [Fact]
    public void ManagedKernelEqualsItsScalarDefinitionBitForBitOnEveryPath()
    {
        IGemmBackend[] kernels = [new ManagedGemm(true, 1), new ManagedGemm(true, 2), new ManagedGemm(false, 1), new ManagedGemm(false, 2)];
        var scalar = new ScalarGemm();
        (int M, int N, int K)[] shapes = [(1, 1, 1), (1, 300, 530), (1, 128, 256), (1, 1000, 17), (2, 33, 300), (6, 129, 64), (7, 33, 257), (40, 70, 600), (13, 16, 512), (7, 1100, 600), (40, 64, 600), (600, 32, 300), (45, 64, 300), (12, 256, 1100)];
        foreach (var (m, n, k) in shapes)
            foreach (bool transposeA in new[] { false, true })
                foreach (bool transposeB in new[] { false, true })
                {
                    float[] a = Random(m * k, 11), b = Random(k * n, 12), c = Random(m * n, 13);
                    float[] expected = (float[])c.Clone();
                    scalar.MatMul(a, b, expected, m, n, k, transposeA, transposeB, 0.75f, 0.5f);
                    foreach (var kernel in kernels)
                    {
                        float[] actual = (float[])c.Clone();
                        kernel.MatMul(a, b, actual, m, n, k, transposeA, transposeB, 0.75f, 0.5f);
                        for (int i = 0; i < actual.Length; i++)
                            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                                $"{kernel.Name} m={m} n={n} k={k} tA={transposeA} tB={transposeB} at {i}: {actual[i]:R} vs scalar {expected[i]:R}");
                    }
                }
    }

    [Fact]
    public void CausalSkipsWriteTheFullProductsBytes()
    {
        ManagedGemm[] kernels = [new ManagedGemm(true, 1), new ManagedGemm(true, 2), new ManagedGemm(false, 1), new ManagedGemm(false, 2)];
        // (queries, keys, headDim): square, decoding-like (few queries after many keys), keys past one depth block, m not a multiple of 6.
        (int Queries, int Keys, int HeadDim)[] shapes = [(7, 7, 5), (40, 40, 32), (13, 300, 16), (257, 257, 33), (100, 530, 64)];
        foreach (var (queries, keys, headDim) in shapes)
        {
            int offset = keys - queries;
            float[] q = Random(queries * headDim, 21), k = Random(keys * headDim, 22), v = Random(keys * headDim, 23);
            float[] probs = Random(queries * keys, 24);
            for (int i = 0; i < queries; i++)
                for (int j = offset + i + 1; j < keys; j++) probs[i * keys + j] = 0;
            var scalar = new ScalarGemm();
            float[] fullScores = new float[queries * keys], fullSums = new float[queries * headDim];
            scalar.MatMul(q, k, fullScores, queries, keys, headDim, false, true, 0.25f, 0);
            scalar.MatMul(probs, v, fullSums, queries, headDim, keys, false, false, 1, 0);
            foreach (var kernel in kernels)
            {
                float[] scores = Enumerable.Repeat(float.NaN, queries * keys).ToArray(), sums = new float[queries * headDim];
                kernel.MatMul(q, k, scores, queries, keys, headDim, false, true, 0.25f, 0, CausalSkip.MaskedColumns, offset);
                kernel.MatMul(probs, v, sums, queries, headDim, keys, false, false, 1, 0, CausalSkip.MaskedDepth, offset);
                int skipped = 0;
                for (int i = 0; i < queries; i++)
                    for (int j = 0; j < keys; j++)
                        if (j <= offset + i)
                            Assert.Equal(BitConverter.SingleToInt32Bits(fullScores[i * keys + j]), BitConverter.SingleToInt32Bits(scores[i * keys + j]));
                        else if (float.IsNaN(scores[i * keys + j])) skipped++;
                Assert.True(offset > 0 || queries < 40 || skipped > 0, $"{kernel.Name} {queries}×{keys}: no masked tile was skipped");
                for (int i = 0; i < sums.Length; i++)
                    Assert.True(BitConverter.SingleToInt32Bits(fullSums[i]) == BitConverter.SingleToInt32Bits(sums[i]),
                        $"{kernel.Name} {queries}×{keys}×{headDim} at {i}: {sums[i]:R} vs the full product's {fullSums[i]:R}");
            }
        }
    }

    [Fact]
    public void WideningFiniteHalfBitsEqualsTheHalfConversionForEveryFinitePattern()
    {
        if (!System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated) return;
        var bits = new short[16];
        var widened = new float[16];
        int compared = 0;
        for (int start = 0; start < 65536; start += 16)
        {
            for (int i = 0; i < 16; i++) bits[i] = (short)(start + i);
            System.Runtime.Intrinsics.Vector512.CopyTo(ManagedGemm.WidenFiniteHalf(System.Runtime.Intrinsics.Vector256.Create(bits)), widened);
            var halves = bits.Select(b => BitConverter.Int16BitsToHalf(b)).ToArray();
            var library = new float[16];
            System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(halves, library);
            for (int i = 0; i < 16; i++)
            {
                if (!Half.IsFinite(halves[i])) continue;
                Assert.Equal(BitConverter.SingleToUInt32Bits((float)halves[i]), BitConverter.SingleToUInt32Bits(widened[i]));
                Assert.Equal(BitConverter.SingleToUInt32Bits(library[i]), BitConverter.SingleToUInt32Bits(widened[i]));
                compared++;
            }
        }
        Assert.Equal(65536 - 2 * 1024, compared); // every pattern but the two all-ones exponents (±∞ and NaN)
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(16, 16)]
    [InlineData(37, 70)]
    [InlineData(128, 64)]
    [InlineData(300, 600)]
    [InlineData(768, 256)]
    [InlineData(688, 300)]
    public void HalfWeightRowProductEqualsTheProductWithTheConvertedWeight(int n, int k)
    {
        var gemm = new ManagedGemm(useVector512: true, threads: 2);
        if (!gemm.MultipliesInputMajorWeights) return;
        var random = new Random(n * 1000 + k);
        // Normal, subnormal and zero halves of both signs: every exponent the widening has a case for.
        Half[] weight = [.. Enumerable.Range(0, n * k).Select(i => (Half)((random.NextDouble() * 2 - 1) * Math.Pow(2, -random.Next(0, 26))))];
        float[] converted = [.. weight.Select(h => (float)h)];
        var x = Random(k, 3);
        var expected = new float[n];
        gemm.MatMul(x, converted, expected, 1, n, k, transposeA: false, transposeB: true, alpha: 1, beta: 0);
        var actual = Enumerable.Repeat(float.NaN, n).ToArray();
        gemm.RowTimesHalfColumns(x, HalfColumns.FromRows(weight, n, k)!, actual);
        Assert.Equal(expected.Select(BitConverter.SingleToUInt32Bits), actual.Select(BitConverter.SingleToUInt32Bits));
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(16, 64, 32)]
    [InlineData(37, 71, 71)]
    [InlineData(128, 96, 32)]
    [InlineData(300, 600, 128)]
    [InlineData(688, 768, 384)]
    [InlineData(150, 1000, 1000)]
    public void Int4RowProductEqualsTheProductWithTheDecodedWeight(int n, int k, int groupSize)
    {
        var gemm = new ManagedGemm(useVector512: true, threads: 2);
        if (!gemm.MultipliesInputMajorWeights) return;
        var random = new Random(n * 1000 + k);
        int groups = (k + groupSize - 1) / groupSize;
        byte[] codes = [.. Enumerable.Range(0, n * k).Select(_ => (byte)random.Next(16))];
        byte[] zeros = [.. Enumerable.Range(0, n * groups).Select(_ => (byte)random.Next(16))];
        float[] scales = [.. Enumerable.Range(0, n * groups).Select(_ => (float)(random.NextDouble() * Math.Pow(2, -random.Next(0, 12))))];
        var weight = Int4Columns.Pack(codes, zeros, scales, n, k, groupSize);
        var decoded = new float[n * k];
        for (int o = 0; o < n; o++)
            for (int p = 0; p < k; p++)
                decoded[o * k + p] = weight.Value(o, p);
        Assert.Equal((float)(codes[0] - zeros[0]) * scales[0], decoded[0]);
        var x = Random(k, 5);
        var expected = new float[n];
        gemm.MatMul(x, decoded, expected, 1, n, k, transposeA: false, transposeB: true, alpha: 1, beta: 0);
        var actual = Enumerable.Repeat(float.NaN, n).ToArray();
        gemm.RowTimesInt4Columns(x, weight, actual);
        Assert.Equal(expected.Select(BitConverter.SingleToUInt32Bits), actual.Select(BitConverter.SingleToUInt32Bits));
    }

    [Fact]
    public void HalfColumnsHoldTheTransposedWeightAndRefuseNonFiniteValues()
    {
        Half[] weight = [.. Enumerable.Range(0, 3 * 70).Select(i => (Half)(i * 0.25))];
        var columns = HalfColumns.FromRows(weight, 3, 70)!;
        for (int o = 0; o < 3; o++)
            for (int k = 0; k < 70; k++)
                Assert.Equal(weight[o * 70 + k], columns.Values[k * 3 + o]);
        foreach (var special in new[] { Half.PositiveInfinity, Half.NegativeInfinity, Half.NaN })
        {
            weight[2 * 70 + 69] = special;
            Assert.Null(HalfColumns.FromRows(weight, 3, 70));
        }
        Assert.Throws<ArgumentException>(() => HalfColumns.FromRows(weight, 3, 71));
    }

    [Fact]
    public void ScalarDefinitionRoundsOncePerTermAndOncePerDepthBlock()
    {
        // 1 + 2⁻²⁴ + 2⁻²⁴: summed in float32 one term at a time each tiny term is lost (ties to even), in double it is not.
        float tiny = MathF.Pow(2, -24);
        float[] a = [1, tiny, tiny], b = [1, 1, 1], c = new float[1];
        new ScalarGemm().MatMul(a, b, c, 1, 1, 3, false, false, 1, 0);
        Assert.Equal(1f, c[0]);
        // A second depth block starts its own sum: 2⁻²⁴ · 256 terms in block 2 survive as one addition to C.
        int k = ManagedGemm.DepthBlock * 2;
        a = new float[k];
        a[0] = 1;
        for (int p = ManagedGemm.DepthBlock; p < k; p++) a[p] = tiny;
        b = Enumerable.Repeat(1f, k).ToArray();
        new ScalarGemm().MatMul(a, b, c, 1, 1, k, false, false, 1, 0);
        Assert.Equal(1f + ManagedGemm.DepthBlock * tiny, c[0]);
    }

    [Fact]
    public void MatMulChecksLengthsWithClearMessages()
    {
        var error = Assert.Throws<ArgumentException>(() => Gemm.MatMul(new float[5], new float[6], new float[4], 2, 2, 3));
        Assert.Contains("A has 5 elements, needs 6", error.Message);
        error = Assert.Throws<ArgumentException>(() => Gemm.MatMul(new float[6], new float[5], new float[4], 2, 2, 3, transposeB: true));
        Assert.Contains("B has 5 elements, needs 6 for [2×3]", error.Message);
        error = Assert.Throws<ArgumentException>(() => Gemm.MatMul(new float[6], new float[6], new float[3], 2, 2, 3));
        Assert.Contains("C has 3 elements", error.Message);
    }

    [Fact]
    public void DefaultBackendHasReadableName()
    {
        Assert.False(string.IsNullOrWhiteSpace(Gemm.Backend.Name));
        if (OpenBlasGemm.TryLoad() is { } openBlas) Assert.StartsWith("OpenBLAS 0.", openBlas.Name);
    }
}
