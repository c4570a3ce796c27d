using LlmFp4.Kit.Models;

namespace LlmFp4.Kit.Tests.Models;

public class KernelTests
{
    private static float[] Random(int length, int seed, float scale = 3)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1) * scale).ToArray();
    }

    private static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, float tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * (1 + Math.Abs(expected[i])), $"at {i}: {actual[i]} vs {expected[i]}");
    }

    [Fact]
    public void RmsNormSimdMatchesScalarAndReportsInverseRms()
    {
        float[] x = Random(5 * 37, 1), weight = Random(37, 2);
        float[] simd = new float[x.Length], scalar = new float[x.Length], inverseRms = new float[5];
        RmsNorm.Forward(x, weight, 1e-5f, simd, inverseRms);
        RmsNorm.ForwardScalar(x, weight, 1e-5f, scalar);
        AssertClose(scalar, simd, 1e-6f);
        double meanSquare = x.Take(37).Sum(v => (double)v * v) / 37;
        Assert.Equal(1 / Math.Sqrt(meanSquare + 1e-5), inverseRms[0], 1e-6);

        RmsNorm.Forward(x, weight, 1e-5f, x); // in place
        Assert.Equal(simd, x);
        Assert.Throws<ArgumentException>(() => RmsNorm.Forward(new float[10], weight, 1e-5f, new float[10]));
    }

    [Fact]
    public void SoftmaxAndLogSoftmaxMatchScalarAndDoNotOverflow()
    {
        float[] x = Random(300, 3, 20);
        x[17] = 1000; // exp(1000) would overflow without max subtraction
        float[] simd = new float[x.Length], scalar = new float[x.Length];
        Softmax.Forward(x, simd);
        Softmax.ForwardScalar(x, scalar);
        AssertClose(scalar, simd, 1e-6f);
        Assert.Equal(1.0, simd.Sum(v => (double)v), 1e-5);

        LogSoftmax.Forward(x, simd);
        LogSoftmax.ForwardScalar(x, scalar);
        AssertClose(scalar, simd, 1e-6f);
        Assert.Equal(Softmax.LogSumExpScalar(x), Softmax.LogSumExp(x), 1e-3f);

        x[5] = float.NaN;
        Softmax.Forward(x, simd);
        Assert.All(simd, v => Assert.True(float.IsNaN(v)));
        Assert.True(float.IsNaN(Softmax.LogSumExp(x)));
    }

    [Fact]
    public void SwiGluSimdMatchesScalarAlsoInPlace()
    {
        float[] gate = Random(1000, 4, 8), up = Random(1000, 5);
        float[] simd = new float[gate.Length], scalar = new float[gate.Length];
        SwiGlu.Forward(gate, up, simd);
        SwiGlu.ForwardScalar(gate, up, scalar);
        AssertClose(scalar, simd, 1e-6f);
        SwiGlu.Forward(gate, up, gate);
        Assert.Equal(simd, gate);
    }

    [Fact]
    public void RopeRotatesHalvesByPositionAndInverts()
    {
        int headDim = 8, heads = 2, tokens = 5;
        var rope = new Rope(headDim, 10000, 16);
        float[] x = Random(tokens * heads * headDim, 6), rotated = (float[])x.Clone();
        rope.Apply(rotated, tokens, heads, startPosition: 3);

        for (int t = 0; t < tokens; t++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < headDim / 2; i++)
                {
                    double angle = (3 + t) / Math.Pow(10000, 2.0 * i / headDim);
                    int at = t * heads * headDim + h * headDim + i;
                    double x1 = x[at], x2 = x[at + headDim / 2];
                    Assert.Equal(x1 * Math.Cos(angle) - x2 * Math.Sin(angle), rotated[at], 1e-5);
                    Assert.Equal(x2 * Math.Cos(angle) + x1 * Math.Sin(angle), rotated[at + headDim / 2], 1e-5);
                }

        rope.ApplyInverse(rotated, tokens, heads, startPosition: 3);
        AssertClose(x, rotated, 1e-6f);
        var error = Assert.Throws<ArgumentException>(() => rope.Apply(x, tokens, heads, startPosition: 12));
        Assert.Contains("max_position_embeddings", error.Message);
    }

    [Theory]
    [InlineData(40, 1f)] // 20 pairs: two vectors of eight and a tail of four
    [InlineData(40, -1f)]
    [InlineData(64, 1f)]
    [InlineData(6, 1f)] // no whole vector
    public void RopeVectorLoopEqualsThePairByPairRotationBitForBit(int headDim, float direction)
    {
        int heads = 3, tokens = 7, startPosition = 5, half = headDim / 2;
        var rope = new Rope(headDim, 10000, 16);
        float[] x = Random(tokens * heads * headDim, 31), expected = (float[])x.Clone();
        if (direction > 0) rope.Apply(x, tokens, heads, startPosition);
        else rope.ApplyInverse(x, tokens, heads, startPosition);
        for (int t = 0; t < tokens; t++)
            for (int h = 0; h < heads; h++)
                Rope.RotatePairs(expected.AsSpan((t * heads + h) * headDim, headDim), rope.Cos(startPosition + t), rope.Sin(startPosition + t), direction, 0);
        Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), x.Select(BitConverter.SingleToInt32Bits));
    }

    [Theory]
    [InlineData(9, 9)]
    [InlineData(3, 11)] // decoding against a cache: the queries are the last 3 positions
    public void AttentionSimdMatchesScalarWithStridesAndCausalMask(int queries, int keys)
    {
        int headDim = 20, stride = 3 * headDim; // one head read out of a three-head projection
        float[] q = Random(queries * stride, 7), k = Random(keys * stride, 8), v = Random(keys * stride, 9);
        float scale = 1 / MathF.Sqrt(headDim);
        float[] probs = new float[queries * keys], probsScalar = new float[queries * keys];
        Attention.CausalProbabilities(q.AsSpan(headDim), stride, k.AsSpan(headDim), stride, queries, keys, headDim, scale, probs);
        Attention.CausalProbabilitiesScalar(q.AsSpan(headDim), stride, k.AsSpan(headDim), stride, queries, keys, headDim, scale, probsScalar);
        AssertClose(probsScalar, probs, 1e-6f);
        for (int i = 0; i < queries; i++)
        {
            int visible = keys - queries + i + 1;
            Assert.Equal(1.0, probs.AsSpan(i * keys, visible).ToArray().Sum(p => (double)p), 1e-5);
            Assert.All(probs.AsSpan(i * keys + visible, keys - visible).ToArray(), p => Assert.Equal(0f, p));
        }

        float[] output = new float[queries * stride], outputScalar = new float[queries * stride];
        Attention.WeightedSum(probs, v.AsSpan(2 * headDim), stride, queries, keys, headDim, output.AsSpan(headDim), stride);
        Attention.WeightedSumScalar(probs, v.AsSpan(2 * headDim), stride, queries, keys, headDim, outputScalar.AsSpan(headDim), stride);
        AssertClose(outputScalar, output, 1e-6f);
        Assert.All(output.AsSpan(0, headDim).ToArray(), value => Assert.Equal(0f, value)); // other heads untouched

        // Skipping the masked (zero) terms gives the same bytes.
        float[] causal = new float[queries * stride];
        Attention.WeightedSum(probs, v.AsSpan(2 * headDim), stride, queries, keys, headDim, causal.AsSpan(headDim), stride, causal: true);
        Assert.Equal(output, causal);
    }
}
