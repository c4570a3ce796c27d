using LlmFp4.Kit.Evaluation;

namespace LlmFp4.Kit.Tests.Evaluation;

public class MultipleChoiceTests
{
    static LoglikelihoodScorer ConstantScorer() => new(new ConstantModel(), new CharTokenizer());

    [Fact]
    public void AccPicksTheLargestSumAndAccNormTheLargestPerCharacter()
    {
        // One nat per character token: " ab" scores -3 (-1.5 per character of "ab"), " abcdef" -7 (-7/6 per character).
        var example = MultipleChoiceExample.Standard("x", "Q:", ["ab", "abcdef"], gold: 0);

        var scores = MultipleChoiceEvaluator.Score(ConstantScorer(), [example]).Single();

        Assert.Equal([-3.0, -7.0], scores.LogLikelihoods);
        Assert.Equal(0, scores.Prediction);
        Assert.Equal(1, scores.NormalizedPrediction);
        var metrics = MultipleChoiceEvaluator.Aggregate([scores]);
        Assert.Equal([new("acc", 1, null, 1), new MetricValue("acc_norm", 0, null, 1)], metrics);
    }

    /// <summary>
    /// lm-eval's acc_norm divides by Python's len of the choice, in code points: "Mr. Darcy—" is 10 characters (12
    /// UTF-8 bytes, 10 UTF-16 units), "Mr. Darcy." 10. Predicting the em dash (CharTokenizer's '?') costs 2 nats,
    /// every other token 1: the sums are -12 and -11, so per character choice 1 wins (per byte it was choice 0).
    /// </summary>
    [Fact]
    public void AccNormDividesByTheChoicesLengthInCharacters()
    {
        var scorer = new LoglikelihoodScorer(new TokenCostModel('?', 2f), new CharTokenizer());
        var example = MultipleChoiceExample.Standard("arc-1", "Question: How does the letter end?\nAnswer:", ["Mr. Darcy—", "Mr. Darcy."], gold: 1);

        var scores = MultipleChoiceEvaluator.Score(scorer, [example]).Single();

        Assert.Equal([-12.0, -11.0], scores.LogLikelihoods);
        Assert.Equal(1, scores.NormalizedPrediction);
        Assert.Equal(1, MultipleChoiceEvaluator.Aggregate([scores]).Single(m => m.Metric == "acc_norm").Value);
        Assert.Equal((10, 10, 2, 1), (MultipleChoiceEvaluator.CodePoints("Mr. Darcy—"), MultipleChoiceEvaluator.CodePoints("Mr. Darcy."),
            MultipleChoiceEvaluator.CodePoints("a😀"), MultipleChoiceEvaluator.CodePoints("é")));
    }

    /// <summary>Predicting <paramref name="token"/> costs <paramref name="cost"/> nats, any other token one.</summary>
    sealed class TokenCostModel(int token, float cost) : LlmFp4.Kit.Models.ICausalLanguageModel
    {
        public int VocabSize => 130;
        public int ContextLength => 256;
        public float[][] TokenLogProbs(IReadOnlyList<int[]> sequences) =>
            [.. sequences.Select(s => s.Skip(1).Select(t => t == token ? -cost : -1f).ToArray())];
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
