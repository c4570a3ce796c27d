using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Tests.Models;

/// <summary>The kernels BERT adds to the runtime: LayerNorm, erf and GELU, bidirectional attention, linear bias.</summary>
public class EncoderKernelTests
{
    private static float[] Random(int length, int seed, float scale = 3, float offset = 0)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => offset + (float)(random.NextDouble() * 2 - 1) * scale).ToArray();
    }

    private static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, float tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * (1 + Math.Abs(expected[i])), $"at {i}: {actual[i]} vs {expected[i]}");
    }

    [Fact]
    public void LayerNormSimdMatchesScalarAlsoInPlaceAndNormalises()
    {
        // An offset far from zero: a one-pass variance (E[x²] − E[x]²) would lose most digits here.
        float[] x = Random(6 * 384, 1, scale: 2, offset: 50), weight = Random(384, 2, offset: 1), bias = Random(384, 3);
        float[] simd = new float[x.Length], scalar = new float[x.Length];
        LayerNorm.Forward(x, weight, bias, 1e-12f, simd);
        LayerNorm.ForwardScalar(x, weight, bias, 1e-12f, scalar);
        AssertClose(scalar, simd, 2e-6f);

        float[] ones = Enumerable.Repeat(1f, 384).ToArray(), zeros = new float[384], plain = new float[384];
        LayerNorm.Forward(x.AsSpan(0, 384), ones, zeros, 1e-12f, plain);
        Assert.Equal(0, plain.Average(v => (double)v), 1e-5);
        Assert.Equal(1, plain.Average(v => (double)v * v), 1e-4);

        LayerNorm.Forward(x, weight, bias, 1e-12f, x);
        Assert.Equal(simd, x);
        Assert.Throws<ArgumentException>(() => LayerNorm.Forward(new float[10], weight, bias, 1e-12f, new float[10]));
        Assert.Throws<ArgumentException>(() => LayerNorm.Forward(new float[384], weight, new float[3], 1e-12f, new float[384]));
    }

    [Theory]
    [InlineData(0.1, 0.1124629160182849)]
    [InlineData(0.5, 0.5204998778130465)]
    [InlineData(1.0, 0.8427007929497149)]
    [InlineData(2.0, 0.9953222650189527)]
    [InlineData(3.0, 0.9999779095030014)]
    [InlineData(4.0, 0.9999999845827421)]
    [InlineData(-0.921875, -0.8076737045106557)]
    public void ErfReferenceMatchesPublishedValues(double x, double expected)
    {
        // Expected values: Python's math.erf (C library erf).
        Assert.Equal(expected, Gelu.ErfReference(x), 1e-13);
    }

    [Fact]
    public void ErfSimdIsWithinTwoUlpOfTheReferenceEverywhere()
    {
        var x = new List<float> { 0f, -0f, 1e-30f, -1e-8f, 0.921875f, 0.92187506f, -0.9218749f, 3.92f, 4f, 9f, -50f, float.MaxValue, float.PositiveInfinity, float.NegativeInfinity };
        for (int i = -60000; i <= 60000; i++) x.Add(i / 10000f);
        float[] input = x.ToArray(), simd = new float[input.Length];
        Gelu.Erf(input, simd);
        for (int i = 0; i < input.Length; i++)
        {
            float expected = (float)Gelu.ErfReference(input[i]);
            float ulp = MathF.BitIncrement(MathF.Abs(expected)) - MathF.Abs(expected);
            Assert.True(MathF.Abs(simd[i] - expected) <= 2 * ulp, $"erf({input[i]:R}) = {simd[i]:R}, reference {expected:R}");
        }
        Assert.True(float.IsNegative(simd[1]));
        float[] nan = [float.NaN, 1f];
        Gelu.Erf(nan, nan);
        Assert.True(float.IsNaN(nan[0]));
    }

    [Fact]
    public void GeluSimdMatchesScalarAlsoInPlace()
    {
        float[] x = Random(1001, 4, 8), simd = new float[x.Length], scalar = new float[x.Length];
        Gelu.Forward(x, simd);
        Gelu.ForwardScalar(x, scalar);
        AssertClose(scalar, simd, 3e-7f);
        Assert.Equal(0.8413447460685429 * 1, Gelu.ErfReference(1 / Math.Sqrt(2)) * 0.5 + 0.5, 1e-13); // Φ(1)
        Gelu.Forward(x, x);
        Assert.Equal(simd, x);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(13)]
    public void BidirectionalAttentionSeesEveryKeyAndMatchesScalar(int tokens)
    {
        int headDim = 16, stride = 2 * headDim;
        float[] q = Random(tokens * stride, 7), k = Random(tokens * stride, 8), v = Random(tokens * stride, 9);
        float scale = 1 / MathF.Sqrt(headDim);
        float[] probs = new float[tokens * tokens], probsScalar = new float[tokens * tokens];
        Attention.BidirectionalProbabilities(q.AsSpan(headDim), stride, k.AsSpan(headDim), stride, tokens, tokens, headDim, scale, probs);
        Attention.BidirectionalProbabilitiesScalar(q.AsSpan(headDim), stride, k.AsSpan(headDim), stride, tokens, tokens, headDim, scale, probsScalar);
        AssertClose(probsScalar, probs, 1e-6f);
        for (int i = 0; i < tokens; i++)
        {
            Assert.Equal(1.0, probs.AsSpan(i * tokens, tokens).ToArray().Sum(p => (double)p), 1e-5);
            Assert.All(probs.AsSpan(i * tokens, tokens).ToArray(), p => Assert.True(p > 0));
        }

        float[] output = new float[tokens * stride], outputScalar = new float[tokens * stride];
        Attention.WeightedSum(probs, v, stride, tokens, tokens, headDim, output, stride);
        Attention.WeightedSumScalar(probs, v, stride, tokens, tokens, headDim, outputScalar, stride, causal: false);
        AssertClose(outputScalar, output, 1e-6f);
    }

    [Fact]
    public void LinearBiasIsAddedToEveryRowBeforeTheObserverSeesTheOutput()
    {
        int rows = 3, inFeatures = 5, outFeatures = 4;
        float[] weight = Random(outFeatures * inFeatures, 10), bias = Random(outFeatures, 11), input = Random(rows * inFeatures, 12);
        var plain = new LinearLayer("encoder.layer.0.intermediate.dense", inFeatures, outFeatures, weight);
        var biased = new LinearLayer("encoder.layer.0.intermediate.dense", inFeatures, outFeatures, weight) { Bias = bias };
        float[] without = new float[rows * outFeatures], with = new float[rows * outFeatures];
        plain.Forward(input, without, rows, []);
        var observer = new LastOutput();
        biased.Forward(input, with, rows, [], observer);
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outFeatures; o++)
                Assert.Equal(without[r * outFeatures + o] + bias[o], with[r * outFeatures + o]);
        Assert.Equal(with, observer.Output);
        Assert.Equal("encoder.layer.0.intermediate.dense.bias", biased.BiasName);

        // The bias also applies with a quantized input and after the weight is replaced.
        biased.InputQuantizer = new IdentityQuantizer();
        biased.Weight = (float[])weight.Clone();
        float[] again = new float[rows * outFeatures];
        biased.Forward(input, again, rows, new float[rows * inFeatures]);
        Assert.Equal(with, again);
        var error = Assert.Throws<ArgumentException>(() => biased.Bias = new float[3]);
        Assert.Contains("encoder.layer.0.intermediate.dense.bias", error.Message);
        biased.Bias = null;
        biased.Forward(input, again, rows, new float[rows * inFeatures]);
        Assert.Equal(without, again);
    }

    private sealed class LastOutput : ILinearObserver
    {
        public float[] Output { get; private set; } = [];
        public void Observe(LinearLayer layer, ReadOnlySpan<float> input, ReadOnlySpan<float> output, int rows) => Output = output.ToArray();
    }

    private sealed class IdentityQuantizer : ITensorQuantizer
    {
        public void Apply(Span<float> values, int rows, int cols) { }
    }
}
