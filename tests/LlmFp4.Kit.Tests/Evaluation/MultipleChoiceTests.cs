using LlmFp4.Kit.Evaluation;

namespace LlmFp4.Kit.Tests.Evaluation;

public class MultipleChoiceTests
{
    static LoglikelihoodScorer ConstantScorer() => new(new ConstantModel(), new CharTokenizer());

    [Fact]
    public void AccPicksTheLargestSumAndAccNormTheLargestPerByte()
    {
        // One nat per character token: " ab" scores -3 (-1.5 per byte of "ab"), " abcdef" -7 (-7/6 per byte).
        var example = MultipleChoiceExample.Standard("x", "Q:", ["ab", "abcdef"], gold: 0);

        var scores = MultipleChoiceEvaluator.Score(ConstantScorer(), [example]).Single();

        Assert.Equal([-3.0, -7.0], scores.LogLikelihoods);
        Assert.Equal(0, scores.Prediction);
        Assert.Equal(1, scores.NormalizedPrediction);
        var metrics = MultipleChoiceEvaluator.Aggregate([scores]);
        Assert.Equal([new("acc", 1, null, 1), new MetricValue("acc_norm", 0, null, 1)], metrics);
    }

    [Fact]
    public void TiesGoToTheFirstChoice()
    {
        var scores = MultipleChoiceEvaluator.Score(ConstantScorer(), [MultipleChoiceExample.Standard("x", "Q:", ["ab", "cd"], gold: 1)]).Single();
        Assert.Equal(0, scores.Prediction);
    }

    [Fact]
    public void StandardErrorIsTheSampleStandardDeviationOverRootN()
    {
        var metric = Metrics.Mean("acc", [1, 0, 1, 1]);
        Assert.Equal(0.75, metric.Value);
        Assert.Equal(0.25, metric.Stderr!.Value, 12); // sample sd 0.5, over sqrt(4)
    }

    [Fact]
    public void PartialScoringSharesTheContinuationAcrossContexts()
    {
        var example = MultipleChoiceExample.Partial("w", ["The cup fell on Ann", "The cup fell on Bob"], "because it was slippery.", gold: 1);

        Assert.All(example.Choices, c => Assert.Equal(" because it was slippery.", c.Continuation));
        Assert.Equal(["The cup fell on Ann", "The cup fell on Bob"], example.Choices.Select(c => c.Context));
        var scores = MultipleChoiceEvaluator.Score(ConstantScorer(), [example]).Single();
        Assert.Equal(scores.LogLikelihoods[0], scores.LogLikelihoods[1]);
    }

    [Fact]
    public void ExamplesAreBatchedTogether()
    {
        var model = new BigramModel(130, 64);
        var scorer = new LoglikelihoodScorer(model, new CharTokenizer(), new ScoringOptions(BatchSize: 16));
        var examples = Enumerable.Range(0, 3).Select(i => MultipleChoiceExample.Standard($"e{i}", $"Q{i}:", ["yes", "no"], 0)).ToList();

        var scores = MultipleChoiceEvaluator.Score(scorer, examples);

        Assert.Single(model.Calls);
        Assert.Equal(6, model.Calls[0].Length);
        Assert.Equal(3, scores.Count);
    }

    [Fact]
    public void AGoldIndexOutsideTheChoicesIsRejected()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            MultipleChoiceEvaluator.Score(ConstantScorer(), [MultipleChoiceExample.Standard("bad", "Q:", ["a", "b"], gold: 2)]));
        Assert.Contains("bad", error.Message);
    }
}
