using System.Text.RegularExpressions;
using LlmFp4.Kit.Evaluation;

namespace LlmFp4.Kit.Tests.Evaluation;

public class StandInTasksTests
{
    static readonly string[] Words = ["river", "lantern", "harvest", "window", "garden", "merchant", "captain", "letter", "winter", "forest", "meadow", "silver"];

    /// <summary>Twelve documents of varied sentences, each sentence mentioning the document's own word.</summary>
    static string SyntheticCorpus()
    {
        var random = new Random(7);
        var documents = new List<string>();
        for (int d = 0; d < 12; d++)
        {
            var sentences = new List<string>();
            for (int s = 0; s < 14; s++)
            {
                int length = 4 + random.Next(10);
                var words = Enumerable.Range(0, length).Select(_ => Words[random.Next(Words.Length)]).ToList();
                words[random.Next(length)] = Words[d];
                sentences.Add(char.ToUpperInvariant(words[0][0]) + string.Join(" ", words)[1..] + (s % 5 == 4 ? "?" : ". Then " + Words[d] + "."));
            }
            documents.Add(string.Join(" ", sentences));
        }
        return string.Join("\n\n", documents);
    }

    [Fact]
    public void SentencesSplitAtStopsButNotAfterAbbreviations()
    {
        Assert.Equal(["Mr. Smith came home.", "\"Is it late?\" she asked.", "It was."],
            StandInTasks.SplitSentences("Mr. Smith came home. \"Is it late?\" she asked. It was."));
    }

    [Fact]
    public void DocumentsAreBlankLineSeparatedBlocks()
    {
        Assert.Equal(["One two. Three.", "Four."], StandInTasks.SplitDocuments("One two.\nThree.\n\n \nFour.\n"));
        Assert.Equal(["One.", "Two."], StandInTasks.SplitDocuments("One.\nTwo.\n"));
    }

    [Fact]
    public void ContinuationItemsHideTheTrueNextSentenceAmongDistractorsFromOtherDocuments()
    {
        string corpus = SyntheticCorpus();
        var documents = StandInTasks.SplitDocuments(corpus).Select(StandInTasks.SplitSentences).ToList();

        var (continuation, _) = StandInTasks.Generate(corpus, new StandInTaskOptions(ContinuationCount: 20));

        Assert.Equal(20, continuation.Count);
        foreach (var example in continuation)
        {
            Assert.Equal(4, example.Choices.Count);
            string context = example.Choices[0].Context;
            string answer = example.Choices[example.Gold].ChoiceText;
            int home = documents.FindIndex(d => string.Join(" ", d).Contains(context + " " + answer));
            Assert.True(home >= 0, $"{example.Id}: the answer does not follow its context in any document");
            foreach (var distractor in example.Choices.Where((_, i) => i != example.Gold))
            {
                Assert.DoesNotContain(distractor.ChoiceText, documents[home]);
                Assert.InRange(distractor.ChoiceText.Length, answer.Length * 0.5 - 1, answer.Length * 1.5 + 1);
            }
        }
        Assert.True(continuation.Select(e => e.Gold).Distinct().Count() > 1, "gold positions should vary");
    }

    [Fact]
    public void LastWordTargetsOccurEarlierInTheirPassage()
    {
        var (_, lastWord) = StandInTasks.Generate(SyntheticCorpus(), new StandInTaskOptions(LastWordCount: 15, MinPassageWords: 20));

        Assert.NotEmpty(lastWord);
        foreach (var example in lastWord)
        {
            Assert.Matches("^[A-Za-z]{3,}$", example.Target);
            Assert.Matches($@"(?i)\b{example.Target}\b", example.Context);
            Assert.False(char.IsWhiteSpace(example.Context[^1]));
        }
    }

    [Fact]
    public void FilesAreDeterministicInTheSeedAndReadBack()
    {
        using var dir = new TempDirectory();
        string corpus = dir.File("test.txt", SyntheticCorpus());
        var options = new StandInTaskOptions(Seed: 3, ContinuationCount: 10, LastWordCount: 10, MinPassageWords: 20);

        var counts = StandInTasks.GenerateFiles(corpus, Path.Combine(dir.Path, "a"), options);
        StandInTasks.GenerateFiles(corpus, Path.Combine(dir.Path, "b"), options);
        StandInTasks.GenerateFiles(corpus, Path.Combine(dir.Path, "c"), options with { Seed = 4 });

        string Read(string folder, string name) => File.ReadAllText(Path.Combine(dir.Path, folder, name + ".jsonl"));
        Assert.Equal(Read("a", "continuation"), Read("b", "continuation"));
        Assert.Equal(Read("a", "lastword"), Read("b", "lastword"));
        string readme = File.ReadAllText(Path.Combine(dir.Path, "a", "README.md"));
        Assert.Contains("--seed 3 --count 10", readme);
        Assert.Contains("stand-ins", readme);
        Assert.NotEqual(Read("a", "continuation"), Read("c", "continuation"));

        var regenerated = StandInTasks.Generate(File.ReadAllText(corpus), options);
        var readBack = StandInTasks.ReadContinuation(Path.Combine(dir.Path, "a", "continuation.jsonl"));
        Assert.Empty(readBack.Skipped);
        Assert.Equal(counts.Continuation, readBack.Items.Count);
        Assert.Equal(regenerated.Continuation.Select(Describe), readBack.Items.Select(Describe));
        var lastWords = StandInTasks.ReadLastWord(Path.Combine(dir.Path, "a", "lastword.jsonl")).Items;
        Assert.Equal(regenerated.LastWord, lastWords);
    }

    static string Describe(MultipleChoiceExample e) =>
        $"{e.Id}|{e.Gold}|" + string.Join("|", e.Choices.Select(c => c.Context + "#" + c.Continuation + "#" + c.ChoiceText));

    [Fact]
    public void StandInsAreLabelledWhenShown()
    {
        Assert.Equal("continuation (stand-in)", StandInTasks.DisplayName("continuation"));
        Assert.Equal("lastword (stand-in)", StandInTasks.DisplayName("lastword"));
        Assert.Equal("piqa", StandInTasks.DisplayName("piqa"));
    }
}
