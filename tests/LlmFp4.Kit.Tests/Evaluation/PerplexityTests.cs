using System.Text;
using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Tests.Tokenizers;

namespace LlmFp4.Kit.Tests.Evaluation;

public class PerplexityTests
{
    [Fact]
    public void NonOverlappingWindowsCarryOneTokenOver()
    {
        Assert.Equal([new(0, 4, 1), new(3, 7, 4), new(6, 10, 7)], PerplexityEvaluator.PlanWindows(10, 4, 3));
    }

    [Theory]
    [InlineData(10, 4, 3)]
    [InlineData(10, 4, 1)]
    [InlineData(23, 8, 3)]
    [InlineData(3, 8, 7)]
    public void EveryTokenButTheFirstIsScoredOnceWithinTheWindowLength(int length, int window, int stride)
    {
        var windows = PerplexityEvaluator.PlanWindows(length, window, stride);

        var scored = windows.SelectMany(w => Enumerable.Range(w.FirstTarget, w.End - w.FirstTarget)).ToList();
        Assert.Equal(Enumerable.Range(1, length - 1), scored);
        Assert.All(windows, w => Assert.True(w.End - w.Start <= window && w.Start < w.FirstTarget));
    }

    [Fact]
    public void StrideOneGivesEveryTokenTheFullContext()
    {
        var windows = PerplexityEvaluator.PlanWindows(12, 5, 1);
        Assert.All(windows.Skip(1), w => Assert.Equal(4, w.FirstTarget - w.Start));
    }

    [Fact]
    public void StrideMustLeaveOneTokenOfContext()
    {
        Assert.Throws<ArgumentException>(() => PerplexityEvaluator.PlanWindows(10, 4, 4));
    }

    [Theory]
    [InlineData(null)]
    [InlineData(2)]
    public void PerplexityAndBitsPerByteMatchAHandSum(int? stride)
    {
        // A bigram model only looks one token back, so every window plan gives the same total.
        const string text = "the quick brown fox jumps over the lazy dog";
        var model = new BigramModel(130, 8);
        int[] stream = [128, .. text.Select(c => (int)c)];
        double nll = -Enumerable.Range(1, stream.Length - 1).Sum(i => model.LogProb(stream[i - 1], stream[i]));

        var result = PerplexityEvaluator.Evaluate(model, new CharTokenizer(), text, new PerplexityOptions(Stride: stride, BatchSize: 3));

        Assert.Equal(text.Length, result.TokenCount);
        Assert.Equal(nll / text.Length, result.MeanNll, 5);
        Assert.Equal(nll / text.Length, Math.Log(result.Perplexity), 5);
        Assert.Equal(nll / Math.Log(2) / Encoding.UTF8.GetByteCount(text), result.BitsPerByte!.Value, 5);
        Assert.All(model.Calls, call => Assert.True(call.Length <= 3));
    }

    /// <summary>
    /// lm-eval's rolling windows: the first conditioned on the prefix token (BOS, else EOS), every token of the text
    /// scored. A LLaMA-layout tokenizer.json starts the text with BOS itself: that BOS is the prefix, not scored twice.
    /// </summary>
    [Fact]
    public void TheFirstWindowIsConditionedOnThePrefixTokenOnce()
    {
        const string text = "hello world the world";
        var llama = BpeTokenizer.Load(RepositoryFiles.Path("tests/golden/tokenizers/tiny-sentencepiece.json"));
        var words = new WordTokenizer();
        foreach (var (tokenizer, stream) in new (ITokenizer, int[])[]
        {
            (llama, [1, .. llama.Encode(text)]),
            (words, [0, .. words.Encode(text)]),
            (new CharTokenizer(withBos: false), [129, .. text.Select(c => (int)c)]),
        })
        {
            var model = new BigramModel(1000, 64);
            var result = PerplexityEvaluator.Evaluate(model, tokenizer, text);
            Assert.Equal(stream, model.Calls.Single().Single());
            Assert.Equal(stream.Length - 1, result.TokenCount);
        }
    }

    [Fact]
    public void ProgressCountsWindows()
    {
        var progress = new List<EvalProgress>();
        var result = PerplexityEvaluator.Evaluate(new ConstantModel(4), Enumerable.Range(0, 10).ToArray(), null,
            new PerplexityOptions(BatchSize: 2), new SynchronousProgress<EvalProgress>(progress.Add));

        Assert.Equal(3, result.WindowCount);
        Assert.Equal([new(2, 3), new EvalProgress(3, 3)], progress);
        Assert.Equal(Math.E, result.Perplexity, 6);
        Assert.Null(result.BitsPerByte);
    }
}
