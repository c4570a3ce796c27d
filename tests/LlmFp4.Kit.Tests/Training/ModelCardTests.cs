using LlmFp4.Kit.Models;
using LlmFp4.Kit.Training;

namespace LlmFp4.Kit.Tests.Training;

public class ModelCardTests
{
    [Fact]
    public void EvaluationScoresEveryTokenButTheFirstAgainstAnAddOneUnigram()
    {
        var config = TinyTraining.Config();
        var model = LlamaModel.CreateRandom(config, seed: 3);
        int[] train = [0, 0, 0, 1, 2, 2];
        int[] test = [0, 1, 2, 0, 2, 1, 0]; // windows of 3 carrying one token: [0 1 2] [2 0 2] [2 1 0] → predicted 1 2 | 0 2 | 1 0
        var result = ModelCard.Evaluate("test", model, test, train, window: 3);

        Assert.Equal(6, result.PredictedTokens);
        double denominator = train.Length + config.VocabSize;
        double p0 = 4 / denominator, p1 = 2 / denominator, p2 = 3 / denominator; // counts + 1
        Assert.Equal(Math.Exp(-(2 * Math.Log(p0) + 2 * Math.Log(p1) + 2 * Math.Log(p2)) / 6), result.UnigramPerplexity, 1e-9);

        var logProbs = model.TokenLogProbs([[0, 1, 2], [2, 0, 2], [2, 1, 0]]);
        double nll = -logProbs.Sum(row => row.Sum(x => (double)x));
        Assert.Equal(Math.Exp(nll / 6), result.ModelPerplexity, 1e-9);
    }

    [Fact]
    public void TrainingLogRoundTripsAndNamesABadLine()
    {
        string path = Path.Combine(Path.GetTempPath(), $"llmfp4-log-{Guid.NewGuid():N}.csv");
        try
        {
            TrainingLogRow[] rows = [new(1, 100, 8.125, 1e-3, 0.5, 1.5, null), new(2, 200, 7.0 / 3, 2e-3, 0.25, 3.0, 6.5)];
            TrainingLog.Write(path, rows);
            Assert.Equal(rows, TrainingLog.Read(path));
            File.AppendAllText(path, "3,300,abc,0,0,0,\n");
            var ex = Assert.Throws<InvalidDataException>(() => TrainingLog.Read(path));
            Assert.Contains("line 4", ex.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
