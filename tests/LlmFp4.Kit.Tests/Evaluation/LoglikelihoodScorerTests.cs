using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Tests.Tokenizers;

namespace LlmFp4.Kit.Tests.Evaluation;

public class LoglikelihoodScorerTests
{
    [Fact]
    public void TrailingWhitespaceOfTheContextMovesToTheContinuation()
    {
        var tokenizer = new WordTokenizer();
        var scorer = new LoglikelihoodScorer(new ConstantModel(), tokenizer, new ScoringOptions(AddBosToken: false));

        var (context, continuation) = scorer.EncodePair("Question: why?\nAnswer: ", "yes");

        Assert.Equal(tokenizer.Encode("Question: why?\nAnswer:"), context);
        Assert.Equal(tokenizer.Encode(" yes"), continuation);
        Assert.Single(continuation);
    }

    /// <summary>
    /// A join inside a token: with the kit's BPE tokenizer "In the beginn" is 4 tokens and "In the beginning" 3, "and
    /// the Lor" 4 and "and the Lord said" 4, so lm-eval's whole[len(context):] is empty (lm-eval asserts it is not).
    /// Scoring nothing as log-likelihood 0 would decide a two-choice item by tie-breaking: it is an error naming the item.
    /// </summary>
    [Theory]
    [InlineData("In the beginn", "ing")]
    [InlineData("and the Lor", "d said")]
    public void AContinuationThatEncodesToNoTokenIsAnErrorNamingTheRequest(string context, string continuation)
    {
        var tokenizer = BpeTokenizer.Load(RepositoryFiles.Path("data/tokenizer/tokenizer.json"));
        var scorer = new LoglikelihoodScorer(new ConstantModel(), tokenizer);

        var (contextIds, continuationIds) = scorer.EncodePair(context, continuation);
        Assert.Equal(tokenizer.Encode(context), contextIds);
        Assert.Empty(continuationIds);

        var error = Assert.Throws<ArgumentException>(() => scorer.Score([new("Well", " yes"), new(context, continuation, "Example 7, choice 1")]));
        Assert.Equal($"Example 7, choice 1: continuation '{continuation}' after context '…{context}' encodes to no token of its own " +
            "(the tokenizer merges it into the context's last token), so it has no likelihood to score.", error.Message);
        Assert.StartsWith("Request 0: ", Assert.Throws<ArgumentException>(() => scorer.Score([new(context, continuation)])).Message);
    }

    /// <summary>A LLaMA-layout tokenizer.json (TemplateProcessing [&lt;s&gt;, $A]) starts every context with its BOS, as in lm-eval.</summary>
    [Fact]
    public void ALlamaTokenizerPutsBosBeforeTheContext()
    {
        var tokenizer = BpeTokenizer.Load(RepositoryFiles.Path("tests/golden/tokenizers/tiny-sentencepiece.json"));
        var scorer = new LoglikelihoodScorer(new ConstantModel(), tokenizer);
        Assert.Equal((string.Join(",", [1, .. tokenizer.Encode("hello")]), string.Join(",", tokenizer.Encode("hello world")[tokenizer.Encode("hello").Length..])),
            Pair(scorer.EncodePair("hello", " world")));
    }

    /// <summary>lm-eval's empty context: the prefix token (BOS, else EOS), or the continuation's own leading BOS.</summary>
    [Fact]
    public void EmptyContextIsThePrefixToken()
    {
        var scorer = new LoglikelihoodScorer(new ConstantModel(), new CharTokenizer());
        Assert.Equal(("128", "104,105"), Pair(scorer.EncodePair("", "hi")));
        var withoutBos = new LoglikelihoodScorer(new ConstantModel(), new CharTokenizer(withBos: false));
        Assert.Equal(("129", "104,105"), Pair(withoutBos.EncodePair("", "hi")));
        var words = new WordTokenizer();
        var leadingBos = new LoglikelihoodScorer(new ConstantModel(), words);
        Assert.Equal(("0", string.Join(",", words.Encode(" yes"))), Pair(leadingBos.EncodePair("", "<s> yes")));
    }

    private static (string, string) Pair((int[] Context, int[] Continuation) pair) =>
        (string.Join(",", pair.Context), string.Join(",", pair.Continuation));

    /// <summary>
    /// lm-eval's add_bos_token: by default the tokenizer's own special tokens (BOS for CharTokenizer, as for LLaMA;
    /// nothing for the GPT-2-like WordTokenizer), true puts BOS first anyway, false adds none.
    /// </summary>
    [Theory]
    [InlineData(null, "128,97", "")]
    [InlineData(true, "128,97", "0,")]
    [InlineData(false, "97", "")]
    public void ContextsCarryTheSpecialTokensTheOptionsAsk(bool? addBosToken, string charContext, string wordPrefix)
    {
        var options = new ScoringOptions(AddBosToken: addBosToken);
        Assert.Equal((charContext, "32,98"), Pair(new LoglikelihoodScorer(new ConstantModel(), new CharTokenizer(), options).EncodePair("a", " b")));
        var words = new WordTokenizer();
        var (context, continuation) = Pair(new LoglikelihoodScorer(new ConstantModel(), words, options).EncodePair("Well", " yes"));
        Assert.Equal((wordPrefix + string.Join(",", words.Encode("Well")), string.Join(",", words.Encode(" yes"))), (context, continuation));
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
