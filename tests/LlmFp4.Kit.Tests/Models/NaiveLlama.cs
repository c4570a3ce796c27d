using LlmFp4.Kit.Models;

namespace LlmFp4.Kit.Tests.Models;

/// <summary>
/// LLaMA forward written as plainly as possible, straight from the HF modelling code, with double
/// accumulation: the reference the optimised model is checked against.
/// </summary>
internal static class NaiveLlama
{
    public static double[,] Logits(LlamaConfig c, IReadOnlyDictionary<string, float[]> w, int[] tokens)
    {
        int t = tokens.Length, h = c.HiddenSize, heads = c.NumAttentionHeads, kvHeads = c.KeyValueHeads, d = c.HeadDim;
        var x = new double[t, h];
        for (int i = 0; i < t; i++)
            for (int j = 0; j < h; j++) x[i, j] = w["model.embed_tokens.weight"][tokens[i] * h + j];

        for (int layer = 0; layer < c.NumHiddenLayers; layer++)
        {
            string p = $"model.layers.{layer}.";
            var n = Norm(x, w[p + "input_layernorm.weight"], c.RmsNormEps);
            var q = Linear(n, w[p + "self_attn.q_proj.weight"], heads * d);
            var k = Linear(n, w[p + "self_attn.k_proj.weight"], kvHeads * d);
            var v = Linear(n, w[p + "self_attn.v_proj.weight"], kvHeads * d);
            Rotate(q, heads, d, c.RopeTheta);
            Rotate(k, kvHeads, d, c.RopeTheta);
            var context = new double[t, heads * d];
            for (int head = 0; head < heads; head++)
            {
                int kvHead = head / (heads / kvHeads);
                for (int i = 0; i < t; i++)
                {
                    var scores = new double[i + 1];
                    for (int j = 0; j <= i; j++)
                    {
                        double dot = 0;
                        for (int e = 0; e < d; e++) dot += q[i, head * d + e] * k[j, kvHead * d + e];
                        scores[j] = dot / Math.Sqrt(d);
                    }
                    double max = scores.Max(), sum = scores.Sum(s => Math.Exp(s - max));
                    for (int j = 0; j <= i; j++)
                    {
                        double prob = Math.Exp(scores[j] - max) / sum;
                        for (int e = 0; e < d; e++) context[i, head * d + e] += prob * v[j, kvHead * d + e];
                    }
                }
            }
            Add(x, Linear(context, w[p + "self_attn.o_proj.weight"], h));
            var m = Norm(x, w[p + "post_attention_layernorm.weight"], c.RmsNormEps);
            var gate = Linear(m, w[p + "mlp.gate_proj.weight"], c.IntermediateSize);
            var up = Linear(m, w[p + "mlp.up_proj.weight"], c.IntermediateSize);
            for (int i = 0; i < t; i++)
                for (int j = 0; j < c.IntermediateSize; j++)
                    gate[i, j] = gate[i, j] / (1 + Math.Exp(-gate[i, j])) * up[i, j];
            Add(x, Linear(gate, w[p + "mlp.down_proj.weight"], h));
        }
        var final = Norm(x, w["model.norm.weight"], c.RmsNormEps);
        return Linear(final, c.TieWordEmbeddings ? w["model.embed_tokens.weight"] : w["lm_head.weight"], c.VocabSize);
    }

    private static double[,] Norm(double[,] x, float[] weight, double eps)
    {
        int t = x.GetLength(0), h = x.GetLength(1);
        var y = new double[t, h];
        for (int i = 0; i < t; i++)
        {
            double sum = 0;
            for (int j = 0; j < h; j++) sum += x[i, j] * x[i, j];
            double scale = 1 / Math.Sqrt(sum / h + eps);
            for (int j = 0; j < h; j++) y[i, j] = x[i, j] * scale * weight[j];
        }
        return y;
    }

    private static double[,] Linear(double[,] x, float[] weight, int outFeatures)
    {
        int t = x.GetLength(0), inFeatures = x.GetLength(1);
        var y = new double[t, outFeatures];
        for (int i = 0; i < t; i++)
            for (int o = 0; o < outFeatures; o++)
            {
                double sum = 0;
                for (int j = 0; j < inFeatures; j++) sum += x[i, j] * weight[o * inFeatures + j];
                y[i, o] = sum;
            }
        return y;
    }

    private static void Rotate(double[,] x, int heads, int d, double theta)
    {
        for (int pos = 0; pos < x.GetLength(0); pos++)
            for (int head = 0; head < heads; head++)
                for (int i = 0; i < d / 2; i++)
                {
                    double angle = pos / Math.Pow(theta, 2.0 * i / d);
                    double x1 = x[pos, head * d + i], x2 = x[pos, head * d + i + d / 2];
                    x[pos, head * d + i] = x1 * Math.Cos(angle) - x2 * Math.Sin(angle);
                    x[pos, head * d + i + d / 2] = x2 * Math.Cos(angle) + x1 * Math.Sin(angle);
                }
    }

    private static void Add(double[,] x, double[,] y)
    {
        for (int i = 0; i < x.GetLength(0); i++)
            for (int j = 0; j < x.GetLength(1); j++) x[i, j] += y[i, j];
    }
}
