using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Bert;

namespace LlmFp4.Kit.Tests.Models;

/// <summary>
/// BERT forward written as plainly as possible from Hugging Face's modeling_bert.py (BertEmbeddings, BertSelfAttention,
/// BertSelfOutput, BertIntermediate, BertOutput), in double, one sequence at a time: the reference the optimised
/// encoder is checked against.
/// </summary>
internal static class NaiveBert
{
    public static double[,] LastHiddenState(BertConfig c, IReadOnlyDictionary<string, float[]> w, int[] tokens, int[]? types = null)
    {
        int t = tokens.Length, h = c.HiddenSize, heads = c.NumAttentionHeads, d = c.HeadDim;
        var x = new double[t, h];
        for (int i = 0; i < t; i++)
            for (int j = 0; j < h; j++)
                x[i, j] = (double)w["embeddings.word_embeddings.weight"][tokens[i] * h + j]
                    + w["embeddings.position_embeddings.weight"][i * h + j]
                    + w["embeddings.token_type_embeddings.weight"][(types?[i] ?? 0) * h + j];
        x = Norm(x, w, "embeddings.LayerNorm", c.LayerNormEps);

        for (int layer = 0; layer < c.NumHiddenLayers; layer++)
        {
            string p = $"encoder.layer.{layer}.";
            var q = Linear(x, w, p + "attention.self.query");
            var k = Linear(x, w, p + "attention.self.key");
            var v = Linear(x, w, p + "attention.self.value");
            var context = new double[t, h];
            for (int head = 0; head < heads; head++)
                for (int i = 0; i < t; i++)
                {
                    var scores = new double[t];
                    for (int j = 0; j < t; j++)
                    {
                        double dot = 0;
                        for (int e = 0; e < d; e++) dot += q[i, head * d + e] * k[j, head * d + e];
                        scores[j] = dot / Math.Sqrt(d);
                    }
                    double max = scores.Max(), sum = scores.Sum(s => Math.Exp(s - max));
                    for (int j = 0; j < t; j++)
                    {
                        double prob = Math.Exp(scores[j] - max) / sum;
                        for (int e = 0; e < d; e++) context[i, head * d + e] += prob * v[j, head * d + e];
                    }
                }
            x = Norm(Add(Linear(context, w, p + "attention.output.dense"), x), w, p + "attention.output.LayerNorm", c.LayerNormEps);
            var inner = Linear(x, w, p + "intermediate.dense");
            for (int i = 0; i < inner.GetLength(0); i++)
                for (int j = 0; j < inner.GetLength(1); j++)
                    inner[i, j] = inner[i, j] * 0.5 * (1 + Gelu.ErfReference(inner[i, j] / Math.Sqrt(2)));
            x = Norm(Add(Linear(inner, w, p + "output.dense"), x), w, p + "output.LayerNorm", c.LayerNormEps);
        }
        return x;
    }

    private static double[,] Linear(double[,] x, IReadOnlyDictionary<string, float[]> w, string module)
    {
        float[] weight = w[module + ".weight"], bias = w[module + ".bias"];
        int rows = x.GetLength(0), inFeatures = x.GetLength(1), outFeatures = bias.Length;
        var y = new double[rows, outFeatures];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outFeatures; o++)
            {
                double sum = bias[o];
                for (int i = 0; i < inFeatures; i++) sum += x[r, i] * weight[o * inFeatures + i];
                y[r, o] = sum;
            }
        return y;
    }

    private static double[,] Add(double[,] a, double[,] b)
    {
        var sum = (double[,])a.Clone();
        for (int i = 0; i < a.GetLength(0); i++)
            for (int j = 0; j < a.GetLength(1); j++) sum[i, j] += b[i, j];
        return sum;
    }

    private static double[,] Norm(double[,] x, IReadOnlyDictionary<string, float[]> w, string module, double eps)
    {
        float[] weight = w[module + ".weight"], bias = w[module + ".bias"];
        int rows = x.GetLength(0), width = x.GetLength(1);
        var y = new double[rows, width];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, variance = 0;
            for (int j = 0; j < width; j++) mean += x[r, j] / width;
            for (int j = 0; j < width; j++) variance += (x[r, j] - mean) * (x[r, j] - mean) / width;
            for (int j = 0; j < width; j++) y[r, j] = (x[r, j] - mean) / Math.Sqrt(variance + eps) * weight[j] + bias[j];
        }
        return y;
    }
}
