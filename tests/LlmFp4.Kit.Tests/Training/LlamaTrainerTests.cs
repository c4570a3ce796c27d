using LlmFp4.Kit.Models;
using LlmFp4.Kit.Training;

namespace LlmFp4.Kit.Tests.Training;

public class LlamaTrainerTests
{
    [Theory]
    [InlineData(1)] // grouped-query: two query heads share one key/value head
    [InlineData(2)] // multi-head
    public void WholeModelGradientMatchesCentralDifferences(int kvHeads)
    {
        const int sequenceLength = 6, microBatch = 2;
        var config = TinyTraining.Config(kvHeads);
        var trainer = TinyTraining.Trainer(config, sequenceLength, microBatch, seed: 5);
        int[] windows = TinyTraining.RandomTokens(microBatch * (sequenceLength + 1), config.VocabSize, seed: 6);

        trainer.ZeroGradients();
        trainer.Run(windows, 1f);
        float[] analytic = (float[])trainer.Gradients.Values.Clone();

        // Probe a few entries of every tensor.
        var random = new Random(7);
        float[] values = trainer.Parameters.Values;
        const float h = 1e-2f;
        foreach (var slice in trainer.Parameters.Slices)
        {
            for (int probe = 0; probe < 4; probe++)
            {
                int index = slice.Offset + random.Next(slice.Length);
                float saved = values[index];
                values[index] = saved + h;
                double plus = trainer.Run(windows, 0);
                values[index] = saved - h;
                double minus = trainer.Run(windows, 0);
                values[index] = saved;
                double numeric = (plus - minus) / (2 * h);
                Assert.True(Math.Abs(numeric - analytic[index]) <= 2e-3 + 0.03 * Math.Abs(numeric),
                    $"{slice.Name}[{index - slice.Offset}]: analytic {analytic[index]}, numeric {numeric}");
            }
        }
    }

    [Fact]
    public void LossMatchesTheRuntimeModelOnTheSameWeights()
    {
        const int sequenceLength = 9, microBatch = 3;
        var config = TinyTraining.Config(kvHeads: 1);
        var trainer = TinyTraining.Trainer(config, sequenceLength, microBatch, seed: 11);
        int[] windows = TinyTraining.RandomTokens(microBatch * (sequenceLength + 1), config.VocabSize, seed: 12);
        double trainerLoss = trainer.Run(windows, 0);

        var model = new LlamaModel(config, trainer.Parameters.ToDictionary());
        var sequences = Enumerable.Range(0, microBatch).Select(b => windows.AsSpan(b * (sequenceLength + 1), sequenceLength + 1).ToArray()).ToList();
        double modelLoss = -model.TokenLogProbs(sequences).Sum(row => row.Sum(x => (double)x));

        Assert.Equal(modelLoss, trainerLoss, 1e-4 * modelLoss);
    }

    [Fact]
    public void WrongWindowCountIsRejectedWithTheExpectedSize()
    {
        var trainer = new LlamaTrainer(TinyTraining.Config(), 4, 2);
        var ex = Assert.Throws<ArgumentException>(() => trainer.Run(new int[7], 1f));
        Assert.Contains("2 windows of 5 tokens", ex.Message);
    }
}
