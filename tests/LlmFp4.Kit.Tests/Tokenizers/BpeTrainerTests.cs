using LlmFp4.Kit.Models.Tokenizers;

namespace LlmFp4.Kit.Tests.Tokenizers;

public class BpeTrainerTests
{
    private const string Text = "low low low low low lower lower newest newest newest newest newest newest widest widest widest";

    [Fact]
    public void FirstMergesFollowPairCountsAndTieBreak()
    {
        var tokenizer = BpeTokenizer.Parse(BpeTrainer.Train([Text], new BpeTrainerSettings(VocabSize: 257 + 5)), "trained");

        // Counts: "e s" 9 = "s t" 9 (tie → smaller ids: e < s), then "es t" 9, "l o" 7 = "o w" 7 (l < o),
        // "lo w" 7, then "Ġ n" 6 among the pairs of count 6 (Ġ has the smallest id).
        Assert.Equal(["es", "est", "lo", "low", "Ġn"], Enumerable.Range(257, 5).Select(tokenizer.IdToToken));
        Assert.Equal(262, tokenizer.VocabSize);
    }

    [Fact]
    public void TrainingIsDeterministicAndRoundTrips()
    {
        var settings = new BpeTrainerSettings(VocabSize: 300);
        string first = BpeTrainer.Train([Text, "The LORD said: don't 42 times!"], settings);
        Assert.Equal(first, BpeTrainer.Train([Text, "The LORD said: don't 42 times!"], settings));

        var tokenizer = BpeTokenizer.Parse(first, "trained");
        const string unseen = "Lowest newer wides — ünïcode 7";
        Assert.Equal(unseen, tokenizer.Decode(tokenizer.Encode(unseen)));
        Assert.Equal([tokenizer.TokenToId("Ġnewest")!.Value], tokenizer.Encode(" newest"));
    }

    [Fact]
    public void TrainingStopsWhenNoPairRepeats()
    {
        var tokenizer = BpeTokenizer.Parse(BpeTrainer.Train(["abc"], new BpeTrainerSettings(VocabSize: 4096)), "trained");
        Assert.Equal(257, tokenizer.VocabSize);
    }

    [Fact]
    public void VocabularySmallerThanTheByteAlphabetIsRejected() =>
        Assert.Throws<ArgumentException>(() => BpeTrainer.Train([Text], new BpeTrainerSettings(VocabSize: 100)));
}
