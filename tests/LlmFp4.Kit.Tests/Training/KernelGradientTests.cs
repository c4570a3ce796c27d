using LlmFp4.Kit.Models;
using LlmFp4.Kit.Training;

namespace LlmFp4.Kit.Tests.Training;

/// <summary>Each backward kernel against central differences of its forward (loss = Σ weights ⊙ output) and against its scalar reference.</summary>
public class KernelGradientTests
{
    private const float H = 1e-2f;

    /// <summary>Central-difference derivative of <paramref name="loss"/> with respect to input[index].</summary>
    private static double Numeric(float[] input, int index, Func<double> loss)
    {
        float saved = input[index];
        input[index] = saved + H;
        double plus = loss();
        input[index] = saved - H;
        double minus = loss();
        input[index] = saved;
        return (plus - minus) / (2 * H);
    }

    private static void AssertClose(double numeric, float analytic, string what) =>
        Assert.True(Math.Abs(numeric - analytic) <= 1e-3 + 1e-2 * Math.Abs(numeric), $"{what}: analytic {analytic}, numeric {numeric}");

    private static double Dot(float[] a, float[] b) => a.Select((x, i) => (double)x * b[i]).Sum();

    [Fact]
    public void RmsNormGradient()
    {
        const int rows = 3, width = 8;
        const float eps = 1e-5f;
        float[] x = TinyTraining.RandomValues(rows * width, 1, 2f), w = TinyTraining.RandomValues(width, 2), dy = TinyTraining.RandomValues(rows * width, 3);
        var y = new float[x.Length];
        var inverseRms = new float[rows];
        RmsNorm.Forward(x, w, eps, y, inverseRms);
        float[] dx = new float[x.Length], dw = new float[width], scratch = new float[width];
        RmsNormBackward.Backward(x, w, inverseRms, dy, dx, dw, scratch);

        double Loss() { RmsNorm.ForwardScalar(x, w, eps, y); return Dot(y, dy); }
        for (int i = 0; i < x.Length; i++) AssertClose(Numeric(x, i, Loss), dx[i], $"dx[{i}]");
        for (int j = 0; j < width; j++) AssertClose(Numeric(w, j, Loss), dw[j], $"dw[{j}]");

        float[] dxReference = new float[x.Length], dwReference = new float[width];
        RmsNormBackward.BackwardScalar(x, w, eps, dy, dxReference, dwReference);
        for (int i = 0; i < x.Length; i++) Assert.Equal(dxReference[i], dx[i], 1e-5f);
        for (int j = 0; j < width; j++) Assert.Equal(dwReference[j], dw[j], 1e-5f);
    }

    [Fact]
    public void SwiGluGradient()
    {
        const int n = 300; // more than one chunk of the SIMD path
        float[] gate = TinyTraining.RandomValues(n, 4, 4f), up = TinyTraining.RandomValues(n, 5, 2f), dh = TinyTraining.RandomValues(n, 6);
        float[] dGate = new float[n], dUp = new float[n], h = new float[n];
        SwiGluBackward.Backward(gate, up, dh, dGate, dUp);
        double Loss() { SwiGlu.ForwardScalar(gate, up, h); return Dot(h, dh); }
        for (int i = 0; i < n; i += 7)
        {
            AssertClose(Numeric(gate, i, Loss), dGate[i], $"dGate[{i}]");
            AssertClose(Numeric(up, i, Loss), dUp[i], $"dUp[{i}]");
        }
        float[] dGateReference = new float[n], dUpReference = new float[n];
        SwiGluBackward.BackwardScalar(gate, up, dh, dGateReference, dUpReference);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(dGateReference[i], dGate[i], 1e-5f);
            Assert.Equal(dUpReference[i], dUp[i], 1e-5f);
        }
    }

    [Fact]
    public void LinearLayer()
    {
        const int rows = 5, inFeatures = 6, outFeatures = 4;
        float[] x = TinyTraining.RandomValues(rows * inFeatures, 7), w = TinyTraining.RandomValues(outFeatures * inFeatures, 8), dy = TinyTraining.RandomValues(rows * outFeatures, 9);
        var y = new float[rows * outFeatures];
        float[] dx = TinyTraining.RandomValues(rows * inFeatures, 10), dw = new float[w.Length];
        float[] dxBefore = (float[])dx.Clone();
        Linear.Backward(x, w, dy, dx, dw, rows, inFeatures, outFeatures, accumulateDx: true);
        double Loss() { Linear.Forward(x, w, y, rows, inFeatures, outFeatures); return Dot(y, dy); }
        for (int i = 0; i < x.Length; i++) AssertClose(Numeric(x, i, Loss), dx[i] - dxBefore[i], $"dx[{i}]");
        for (int i = 0; i < w.Length; i++) AssertClose(Numeric(w, i, Loss), dw[i], $"dw[{i}]");
    }

    [Fact]
    public void EmbeddingScatterAddsRepeatedTokens()
    {
        const int vocab = 5, width = 3;
        int[] tokens = [2, 0, 2, 4];
        float[] table = TinyTraining.RandomValues(vocab * width, 11), dy = TinyTraining.RandomValues(tokens.Length * width, 12);
        var y = new float[tokens.Length * width];
        var dTable = new float[table.Length];
        Embedding.Backward(tokens, dy, width, dTable);
        double Loss() { Embedding.Forward(table, width, tokens, y); return Dot(y, dy); }
        for (int i = 0; i < table.Length; i++) AssertClose(Numeric(table, i, Loss), dTable[i], $"dTable[{i}]");
        Assert.Throws<ArgumentException>(() => Embedding.Forward(table, width, [5], y));
    }

    [Fact]
    public void CrossEntropyLossAndGradient()
    {
        const int rows = 3, vocab = 7;
        float[] logits = TinyTraining.RandomValues(rows * vocab, 13, 3f);
        int[] targets = [1, 6, 0];
        var losses = new double[rows];
        float[] gradient = (float[])logits.Clone();
        CrossEntropy.Forward(gradient, targets, vocab, 0.5f, losses);
        for (int r = 0; r < rows; r++)
        {
            var row = logits.AsSpan(r * vocab, vocab);
            Assert.Equal(Softmax.LogSumExpScalar(row) - row[targets[r]], losses[r], 1e-5);
        }
        double Loss()
        {
            var values = new double[rows];
            CrossEntropy.Forward((float[])logits.Clone(), targets, vocab, 0, values);
            return 0.5 * values.Sum();
        }
        for (int i = 0; i < logits.Length; i++) AssertClose(Numeric(logits, i, Loss), gradient[i], $"dLogits[{i}]");
    }

    [Fact]
    public void RopeGradientIsTheInverseRotation()
    {
        const int tokens = 5, heads = 2, headDim = 8, start = 3;
        var rope = new Rope(headDim, 10000, 16);
        float[] x = TinyTraining.RandomValues(tokens * heads * headDim, 14), dy = TinyTraining.RandomValues(x.Length, 15);
        float[] dx = (float[])dy.Clone();
        rope.ApplyInverse(dx, tokens, heads, start);
        double Loss()
        {
            float[] y = (float[])x.Clone();
            rope.Apply(y, tokens, heads, start);
            return Dot(y, dy);
        }
        for (int i = 0; i < x.Length; i++) AssertClose(Numeric(x, i, Loss), dx[i], $"dx[{i}]");
    }
}
