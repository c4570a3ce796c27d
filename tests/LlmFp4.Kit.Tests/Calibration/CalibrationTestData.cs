using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Tests.Calibration;

/// <summary>Tiny models, inputs and references shared by the calibration tests.</summary>
internal static class CalibrationTestData
{
    public static LlamaConfig TinyConfig(bool tied = false) => new()
    {
        VocabSize = 64,
        HiddenSize = 32,
        IntermediateSize = 48,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        MaxPositionEmbeddings = 64,
        TieWordEmbeddings = tied,
    };

    public static LlamaModel TinyModel(bool tied = false) => LlamaModel.CreateRandom(TinyConfig(tied), seed: 11, std: 0.2f);

    public static CalibrationSet TinySet(int samples = 4, int length = 16)
    {
        var random = new Random(5);
        var stream = Enumerable.Range(0, 2000).Select(_ => random.Next(64)).ToArray();
        return CalibrationSet.Sample(stream, new CalibrationDataSettings { Samples = samples, SequenceLength = length, Seed = 3 });
    }

    /// <summary>Random values whose columns differ in range by powers of two (activation-like outlier channels).</summary>
    public static float[] OutlierInputs(int rows, int cols, int seed)
    {
        var random = new Random(seed);
        var values = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                values[r * cols + c] = (float)((random.NextDouble() * 2 - 1) * Math.Pow(2, c % 5));
        return values;
    }

    public static float[] RandomMatrix(int rows, int cols, int seed, double scale = 0.3)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, rows * cols).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale))];
    }

    /// <summary>mean((X·Wᵀ − X̂·Ŵᵀ)²) with every product and sum in double (per output channel in <paramref name="perRow"/> when given).</summary>
    public static double DirectMse(float[] x, int tokens, int inFeatures, float[] w, int outFeatures, ITensorQuantizer? inputQuantizer, float[] quantizedWeight,
        double[]? perRow = null)
    {
        var xq = (float[])x.Clone();
        inputQuantizer?.Apply(xq, tokens, inFeatures);
        double total = 0;
        for (int o = 0; o < outFeatures; o++)
        {
            double row = 0;
            for (int t = 0; t < tokens; t++)
            {
                double reference = 0, quantized = 0;
                for (int c = 0; c < inFeatures; c++)
                {
                    reference += (double)x[t * inFeatures + c] * w[o * inFeatures + c];
                    quantized += (double)xq[t * inFeatures + c] * quantizedWeight[o * inFeatures + c];
                }
                row += (reference - quantized) * (reference - quantized);
            }
            if (perRow is not null) perRow[o] = row;
            total += row;
        }
        return total / ((double)tokens * outFeatures);
    }

    public static float[] Logits(LlamaModel model, CalibrationSet set) => [.. model.Logits([set.Windows[0], set.Windows[1]]).SelectMany(l => l)];

    public static double RelativeError(float[] reference, float[] actual)
    {
        double difference = 0, norm = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            difference += Math.Pow(reference[i] - actual[i], 2);
            norm += Math.Pow(reference[i], 2);
        }
        return Math.Sqrt(difference / norm);
    }
}
