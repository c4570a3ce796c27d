using LlmFp4.Kit.Evaluation;

namespace LlmFp4.Kit.Tests.Evaluation;

public class PublicTaskReadersTests
{
    static void AssertStandard(MultipleChoiceExample example, string context, string[] choices, int gold)
    {
        Assert.All(example.Choices, c => Assert.Equal(context, c.Context));
        Assert.Equal(choices.Select(c => " " + c), example.Choices.Select(c => c.Continuation));
        Assert.Equal(choices, example.Choices.Select(c => c.ChoiceText));
        Assert.Equal(gold, example.Gold);
    }

    [Fact]
    public void PiqaWithInlineLabel()
    {
        using var dir = new TempDirectory();
        string path = dir.File("piqa.jsonl", """{"goal": "Keep bread fresh", "sol1": "Seal it in a bag.", "sol2": "Leave it in the sun.", "label": 0}""");

        var file = PublicTaskReaders.Piqa(path);

        AssertStandard(file.Items.Single(), "Question: Keep bread fresh\nAnswer:", ["Seal it in a bag.", "Leave it in the sun."], 0);
    }

    [Fact]
    public void PiqaOriginalReleaseTakesLabelsFromTheSiblingFile()
    {
        using var dir = new TempDirectory();
        string path = dir.File("valid.jsonl", """
            {"goal": "a", "sol1": "b", "sol2": "c"}
            {"goal": "d", "sol1": "e", "sol2": "f"}
            """);
        dir.File("valid-labels.lst", "1\n0\n");

        var file = PublicTaskReaders.Piqa(path);

        Assert.Equal([1, 0], file.Items.Select(e => e.Gold));
    }

    [Fact]
    public void ArcOriginalLayoutWithNumericLabels()
    {
        using var dir = new TempDirectory();
        string path = dir.File("arc.jsonl", """
            {"id": "Q1", "question": {"stem": "Which is a gas?", "choices": [{"text": "ice", "label": "1"}, {"text": "steam", "label": "2"}, {"text": "rock", "label": "3"}]}, "answerKey": "2"}
            """);

        var example = PublicTaskReaders.Arc(path).Items.Single();

        Assert.Equal("Q1", example.Id);
        AssertStandard(example, "Question: Which is a gas?\nAnswer:", ["ice", "steam", "rock"], 1);
    }

    [Fact]
    public void ArcHuggingFaceLayoutWithLetters()
    {
        using var dir = new TempDirectory();
        string path = dir.File("arc.jsonl", """
            {"id": "Q2", "question": "What melts?", "choices": {"text": ["ice", "iron", "salt", "sand"], "label": ["A", "B", "C", "D"]}, "answerKey": "A"}
            """);

        AssertStandard(PublicTaskReaders.Arc(path).Items.Single(), "Question: What melts?\nAnswer:", ["ice", "iron", "salt", "sand"], 0);
    }

    [Fact]
    public void HellaSwagAppliesLmEvalPreprocessing()
    {
        using var dir = new TempDirectory();
        string path = dir.File("hs.jsonl", """
            {"ind": 7, "activity_label": "Baking cookies", "ctx_a": "[header] How to bake cookies [title] Preheat the oven.", "ctx_b": "then YOU", "endings": ["mix the [step] dough.", " wait  a bit. "], "label": "1"}
            """);

        var example = PublicTaskReaders.HellaSwag(path).Items.Single();

        // strip; " [title]" -> ". "; other [tags] removed; double spaces collapsed; ctx_b.capitalize() lowers the rest.
        AssertStandard(example, "Baking cookies: How to bake cookies. Preheat the oven. Then you", ["mix the dough.", "wait a bit."], 1);
        Assert.Equal("7", example.Id);
    }

    [Fact]
    public void BoolQOriginalAndSuperGlueLabels()
    {
        using var dir = new TempDirectory();
        string path = dir.File("boolq.jsonl", """
            {"question": "is the sky blue", "passage": "The sky is blue.", "answer": true}
            {"question": "is fire cold", "passage": "Fire is hot.", "label": 0}
            """);

        var items = PublicTaskReaders.BoolQ(path).Items;

        AssertStandard(items[0], "The sky is blue.\nQuestion: is the sky blue?\nAnswer:", ["no", "yes"], 1);
        AssertStandard(items[1], "Fire is hot.\nQuestion: is fire cold?\nAnswer:", ["no", "yes"], 0);
    }

    [Fact]
    public void WinoGrandeUsesPartialScoring()
    {
        using var dir = new TempDirectory();
        string path = dir.File("wino.jsonl", """
            {"sentence": "Ian gave Sam the ball because _ was done playing.", "option1": "Ian", "option2": "Sam", "answer": "1"}
            """);

        var example = PublicTaskReaders.WinoGrande(path).Items.Single();

        Assert.Equal(["Ian gave Sam the ball because Ian", "Ian gave Sam the ball because Sam"], example.Choices.Select(c => c.Context));
        Assert.All(example.Choices, c => Assert.Equal(" was done playing.", c.Continuation));
        Assert.Equal(0, example.Gold);
    }

    [Fact]
    public void OpenBookQaPromptIsTheBareStem()
    {
        using var dir = new TempDirectory();
        string path = dir.File("obqa.jsonl", """
            {"id": "7-980", "question_stem": "The sun is responsible for", "choices": {"text": ["puppies learning", "plants sprouting"], "label": ["A", "B"]}, "answerKey": "B"}
            {"id": "8-1", "question": {"stem": "Frogs are", "choices": [{"text": "amphibians", "label": "A"}, {"text": "stones", "label": "B"}]}, "answerKey": " A"}
            """);

        var items = PublicTaskReaders.OpenBookQa(path).Items;

        AssertStandard(items[0], "The sun is responsible for", ["puppies learning", "plants sprouting"], 1);
        AssertStandard(items[1], "Frogs are", ["amphibians", "stones"], 0);
    }

    [Fact]
    public void MalformedLineNamesTheFileAndLine()
    {
        using var dir = new TempDirectory();
        string path = dir.File("broken.jsonl", """
            {"goal": "a", "sol1": "b", "sol2": "c", "label": 0}
            {"goal": "a", "sol1": 
            """);

        var error = Assert.Throws<InvalidDataException>(() => PublicTaskReaders.Piqa(path));

        Assert.StartsWith($"{path}:2: malformed JSON", error.Message);
    }

    [Fact]
    public void RecordsWithMissingFieldsAreSkippedAndReported()
    {
        using var dir = new TempDirectory();
        string path = dir.File("arc.jsonl", """
            {"question": {"stem": "ok?", "choices": [{"text": "yes", "label": "A"}, {"text": "no", "label": "B"}]}, "answerKey": "A"}
            {"question": {"choices": [{"text": "yes", "label": "A"}]}, "answerKey": "A"}

            {"question": {"stem": "key?", "choices": [{"text": "yes", "label": "A"}, {"text": "no", "label": "B"}]}, "answerKey": "E"}
            {"question": {"stem": "text?", "choices": [{"label": "A"}, {"text": "no", "label": "B"}]}, "answerKey": "A"}
            """);

        var file = PublicTaskReaders.Arc(path);

        Assert.Single(file.Items);
        Assert.Equal([(2, "question.stem"), (4, "answerKey"), (5, "question.choices.text")], file.Skipped.Select(s => (s.Line, s.Field)));
        Assert.All(file.Skipped, s => Assert.Equal(path, s.File));
        Assert.Contains("'E' is not one of the labels", file.Skipped[1].Reason);
    }

    [Fact]
    public void WinoGrandeWithoutBlankIsSkipped()
    {
        using var dir = new TempDirectory();
        string path = dir.File("wino.jsonl", """{"sentence": "No blank here.", "option1": "a", "option2": "b", "answer": "2"}""");

        var skipped = PublicTaskReaders.WinoGrande(path).Skipped.Single();

        Assert.Equal("sentence", skipped.Field);
        Assert.Equal($"{path}:1: skipped, field 'sentence' has no '_' blank", skipped.ToString());
    }
}
