using LlmFp4.Kit.Evaluation;

namespace LlmFp4.Kit.Tests.Evaluation;

public class LoglikelihoodScorerTests
{
    [Fact]
    public void TrailingWhitespaceOfTheContextMovesToTheContinuation()
    {
        var tokenizer = new WordTokenizer();
        var scorer = new LoglikelihoodScorer(new ConstantModel(), tokenizer, new ScoringOptions(PrependBos: false));

        var (context, continuation) = scorer.EncodePair("Question: why?\nAnswer: ", "yes");

        Assert.Equal(tokenizer.Encode("Question: why?\nAnswer:"), context);
        Assert.Equal(tokenizer.Encode(" yes"), continuation);
        Assert.Single(continuation);
    }

    [Fact]
    public void ContinuationTokensAreTheWholeEncodingAfterTheContextTokens()
    {
        // "ab" + "cd" encodes as the single piece "abcd": lm-eval takes whole[len(context):], here nothing.
        var tokenizer = new WordTokenizer();
        var scorer = new LoglikelihoodScorer(new ConstantModel(), tokenizer, new ScoringOptions(PrependBos: false));

        var (context, continuation) = scorer.EncodePair("ab", "cd");

        Assert.Equal(tokenizer.Encode("ab"), context);
        Assert.Empty(continuation);
        Assert.Equal(new LoglikelihoodResult(0, 0, null), scorer.Score([new("ab", "cd")])[0]);
    }

    [Fact]
    public void EmptyContextIsTheBosToken()
    {
        var scorer = new LoglikelihoodScorer(new ConstantModel(), new CharTokenizer(), new ScoringOptions(PrependBos: false));
        var (context, continuation) = scorer.EncodePair("", "hi");
        Assert.Equal([128], context);
        Assert.Equal(['h', 'i'], continuation);
    }

    [Fact]
    public void LogLikelihoodIsTheSumOfContinuationTokenLogProbsAfterBos()
    {
        var model = new BigramModel(130, 64);
        var scorer = new LoglikelihoodScorer(model, new CharTokenizer());

        var result = scorer.Score([new("ab", " cd")])[0];

        // Sequence: BOS a b ' ' c d; the continuation " cd" is scored after b.
        double expected = model.LogProb('b', ' ') + model.LogProb(' ', 'c') + model.LogProb('c', 'd');
        Assert.Equal(3, result.TokenCount);
        Assert.Equal(expected, result.LogLikelihood, 5);
        Assert.Equal([128, 'a', 'b', ' ', 'c', 'd'], model.Calls.Single().Single());
    }

    [Fact]
    public void LongSequencesAreTruncatedFromTheLeft()
    {
        var model = new BigramModel(130, 5);
        var scorer = new LoglikelihoodScorer(model, new CharTokenizer());

        var result = scorer.Score([new("abcdefgh", "xy")])[0];

        Assert.Equal([(int)'f', 'g', 'h', 'x', 'y'], model.Calls.Single().Single());
        Assert.Equal(model.LogProb('h', 'x') + model.LogProb('x', 'y'), result.LogLikelihood, 5);
    }

    [Fact]
    public void ContinuationLongerThanTheContextIsRejected()
    {
        var scorer = new LoglikelihoodScorer(new BigramModel(130, 4), new CharTokenizer());
        var error = Assert.Throws<ArgumentException>(() => scorer.Score([new("a", "bcdef")]));
        Assert.Contains("continuation is 5 tokens", error.Message);
    }

    [Fact]
    public void ASequenceThatIsAPrefixOfAnotherSharesItsForwardPass()
    {
        var model = new BigramModel(130, 64);
        var scorer = new LoglikelihoodScorer(model, new CharTokenizer());
        LoglikelihoodRequest[] requests = [new("the cat", " sat"), new("the cat", " s"), new("the cat", " sat"), new("the cat", " ran")];

        var shared = scorer.Score(requests);

        Assert.Equal(2, model.Calls.Single().Length); // " sat" (covering " s" and the duplicate) and " ran"
        var alone = requests.Select(r => new LoglikelihoodScorer(new BigramModel(130, 64), new CharTokenizer()).Score([r])[0]).ToArray();
        Assert.Equal(alone, shared);
    }

    [Fact]
    public void BatchesHoldAtMostBatchSizeSequencesLongestFirst()
    {
        var model = new BigramModel(130, 64);
        var scorer = new LoglikelihoodScorer(model, new CharTokenizer(), new ScoringOptions(BatchSize: 2));
        var progress = new List<EvalProgress>();

        scorer.Score([new("a", " b"), new("abcd", " e"), new("ab", " c"), new("abcde", " f"), new("abc", " d")],
            progress: new SynchronousProgress<EvalProgress>(progress.Add));

        Assert.Equal([2, 2, 1], model.Calls.Select(c => c.Length));
        Assert.Equal([8, 7, 6, 5, 4], model.Calls.SelectMany(c => c).Select(s => s.Length));
        Assert.Equal([new(2, 5), new(4, 5), new EvalProgress(5, 5)], progress);
    }

    [Fact]
    public void GreedyMatchFollowsTheModelsArgmax()
    {
        var model = new BigramModel(130, 64);
        var scorer = new LoglikelihoodScorer(model, new CharTokenizer());
        int first = model.ArgMax('a'), second = model.ArgMax(first);
        string greedy = new([(char)first, (char)second]);
        string other = new([(char)first, (char)((second + 1) % 128)]);

        var results = scorer.Score([new("a", greedy), new("a", other)], greedy: true);

        Assert.True(results[0].IsGreedy);
        Assert.False(results[1].IsGreedy);
    }

    [Fact]
    public void GreedyMatchNeedsAModelThatReportsItsArgmax()
    {
        var scorer = new LoglikelihoodScorer(new ConstantModel(), new CharTokenizer());
        var error = Assert.Throws<InvalidOperationException>(() => scorer.Score([new("a", "b")], greedy: true));
        Assert.Contains("ConstantModel", error.Message);
    }
}
