using System.Text.Json;
using System.Text.RegularExpressions;

namespace LlmFp4.Kit.Evaluation;

/// <summary>
/// Readers for the public file formats of the paper's zero-shot benchmarks. Each turns a record into the
/// prompt and choices that EleutherAI's lm-evaluation-harness (v0.4 task configs, same prompts as v0.3) builds,
/// quoted in each method's remarks. Choices are scored after lm-eval's target delimiter, a space.
/// </summary>
public static partial class PublicTaskReaders
{
    /// <summary>
    /// PIQA. Template (lm-eval <c>tasks/piqa/piqa.yaml</c>): context <c>"Question: {goal}\nAnswer:"</c>, choices
    /// <c>[sol1, sol2]</c>, gold <c>label</c>. Reads the Hugging Face JSON lines (with <c>label</c>) or the original
    /// release, whose labels sit in a separate file, one per line in record order: <paramref name="labelsPath"/>,
    /// or by default <c>NAME-labels.lst</c> next to <c>NAME.jsonl</c> when it exists.
    /// </summary>
    public static TaskFile<MultipleChoiceExample> Piqa(string path, string? labelsPath = null)
    {
        labelsPath ??= Path.Combine(Path.GetDirectoryName(path) ?? ".", Path.GetFileNameWithoutExtension(path) + "-labels.lst");
        var labels = File.Exists(labelsPath) ? ReadLabels(labelsPath) : null;
        return JsonlRecords.Read(path, r =>
        {
            int gold = r.Has("label") ? r.Int("label")
                : labels is not null && r.Line <= labels.Count ? labels[r.Line - 1]
                : throw JsonRecord.Invalid("label", labels is null ? $"is missing and there is no labels file {labelsPath}" : $"is missing and {labelsPath} has no line {r.Line}");
            return MultipleChoiceExample.Standard(Id(r, "piqa"), $"Question: {r.String("goal")}\nAnswer:",
                [r.String("sol1"), r.String("sol2")], CheckGold(gold, 2, "label"));
        });
    }

    /// <summary>
    /// ARC-Easy and ARC-Challenge. Template (lm-eval <c>tasks/arc/arc_easy.yaml</c>, shared by arc_challenge):
    /// context <c>"Question: {question}\nAnswer:"</c>, choices <c>choices.text</c>, gold
    /// <c>choices.label.index(answerKey)</c> (labels are A–E or 1–5). Reads the original ARC JSON lines
    /// (<c>question.stem</c>, <c>question.choices[{label, text}]</c>) and the Hugging Face layout
    /// (<c>question</c>, <c>choices{text[], label[]}</c>).
    /// </summary>
    public static TaskFile<MultipleChoiceExample> Arc(string path) =>
        JsonlRecords.Read(path, r =>
        {
            var (stem, labels, texts) = QuestionWithChoices(r, stemField: "question");
            return MultipleChoiceExample.Standard(Id(r, "arc"), $"Question: {stem}\nAnswer:", texts,
                GoldByKey(labels, r.String("answerKey")));
        });

    /// <summary>
    /// OpenBookQA. Template (lm-eval <c>tasks/openbookqa/openbookqa.yaml</c>): context <c>question_stem</c> as is,
    /// choices <c>choices.text</c>, gold <c>choices.label.index(answerKey.lstrip())</c>. Reads the Hugging Face layout
    /// (<c>question_stem</c>, <c>choices{text[], label[]}</c>) and the original release (<c>question.stem</c>,
    /// <c>question.choices[{label, text}]</c>).
    /// </summary>
    public static TaskFile<MultipleChoiceExample> OpenBookQa(string path) =>
        JsonlRecords.Read(path, r =>
        {
            var (stem, labels, texts) = QuestionWithChoices(r, stemField: "question_stem");
            return MultipleChoiceExample.Standard(Id(r, "openbookqa"), stem, texts,
                GoldByKey(labels, r.String("answerKey").TrimStart()));
        });

    /// <summary>
    /// HellaSwag. Template (lm-eval <c>tasks/hellaswag/utils.py</c>): context
    /// <c>preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize())</c>, choices
    /// <c>preprocess(ending)</c> for each of <c>endings</c>, gold <c>int(label)</c>; see <see cref="HellaSwagPreprocess"/>.
    /// </summary>
    public static TaskFile<MultipleChoiceExample> HellaSwag(string path) =>
        JsonlRecords.Read(path, r =>
        {
            string context = HellaSwagPreprocess($"{r.String("activity_label")}: {r.String("ctx_a")} {PythonCapitalize(r.String("ctx_b"))}");
            var endings = JsonRecord.AsArray(r.Get("endings"), "endings", e => HellaSwagPreprocess(JsonRecord.AsString(e, "endings")));
            return MultipleChoiceExample.Standard(Id(r, "hellaswag"), context, endings, CheckGold(r.Int("label"), endings.Count, "label"));
        });

    /// <summary>
    /// BoolQ. Template (lm-eval <c>tasks/super_glue/boolq/default.yaml</c>): context
    /// <c>"{passage}\nQuestion: {question}?\nAnswer:"</c>, choices <c>["no", "yes"]</c>, gold <c>label</c>. Reads
    /// the original release (<c>answer</c>: true/false) and SuperGLUE's (<c>label</c>: 0/1).
    /// lm-eval reports only <c>acc</c> for it.
    /// </summary>
    public static TaskFile<MultipleChoiceExample> BoolQ(string path) =>
        JsonlRecords.Read(path, r =>
        {
            int gold = r.Has("answer") ? r.Get("answer").ValueKind switch
            {
                JsonValueKind.True => 1,
                JsonValueKind.False => 0,
                _ => throw JsonRecord.Invalid("answer", "is not true or false"),
            } : CheckGold(r.Int("label"), 2, "label");
            return MultipleChoiceExample.Standard(Id(r, "boolq"), $"{r.String("passage")}\nQuestion: {r.String("question")}?\nAnswer:",
                ["no", "yes"], gold);
        });

    /// <summary>
    /// WinoGrande with lm-eval's partial scoring (<c>tasks/winogrande/preprocess_winogrande.py</c>): with
    /// <c>i = sentence.index("_")</c>, the contexts are <c>sentence[:i] + option1</c> and <c>sentence[:i] + option2</c>,
    /// the shared continuation is <c>sentence[i+1:].strip()</c>, gold <c>{"1": 0, "2": 1}[answer]</c>.
    /// lm-eval reports only <c>acc</c> for it.
    /// </summary>
    public static TaskFile<MultipleChoiceExample> WinoGrande(string path) =>
        JsonlRecords.Read(path, r =>
        {
            string sentence = r.String("sentence");
            int blank = sentence.IndexOf('_');
            if (blank < 0)
                throw JsonRecord.Invalid("sentence", "has no '_' blank");
            string prefix = sentence[..blank];
            int gold = r.Int("answer") - 1;
            return MultipleChoiceExample.Partial(Id(r, "winogrande"), [prefix + r.String("option1"), prefix + r.String("option2")],
                sentence[(blank + 1)..].Trim(), CheckGold(gold, 2, "answer"));
        });

    /// <summary>
    /// lm-eval's HellaSwag <c>preprocess</c>: strip; <c>" [title]"</c> becomes <c>". "</c> (WikiHow headings);
    /// every other bracketed tag such as <c>[header]</c> or <c>[step]</c> is removed; double spaces become single.
    /// </summary>
    public static string HellaSwagPreprocess(string text)
    {
        text = text.Trim().Replace(" [title]", ". ");
        text = BracketTag().Replace(text, "");
        return text.Replace("  ", " ");
    }

    /// <summary>Python's <c>str.capitalize</c>: first character upper case, the rest lower case.</summary>
    static string PythonCapitalize(string text) =>
        text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..].ToLowerInvariant();

    [GeneratedRegex(@"\[.*?\]")]
    private static partial Regex BracketTag();

    static (string Stem, List<string> Labels, List<string> Texts) QuestionWithChoices(JsonRecord r, string stemField)
    {
        if (r.Has("question") && r.Get("question").ValueKind == JsonValueKind.Object)
        {
            var question = new JsonRecord(r.Get("question"), r.Line);
            var choices = JsonRecord.AsArray(question.Get("choices"), "question.choices", c => new JsonRecord(c, r.Line));
            return (Nested(() => question.String("stem"), "question."),
                [.. choices.Select(c => Nested(() => c.String("label"), "question.choices."))],
                [.. choices.Select(c => Nested(() => c.String("text"), "question.choices."))]);
        }
        var flat = new JsonRecord(r.Get("choices"), r.Line);
        var labels = Nested(() => JsonRecord.AsArray(flat.Get("label"), "label", e => JsonRecord.AsString(e, "label")), "choices.");
        var texts = Nested(() => JsonRecord.AsArray(flat.Get("text"), "text", e => JsonRecord.AsString(e, "text")), "choices.");
        if (labels.Count != texts.Count)
            throw JsonRecord.Invalid("choices", $"has {texts.Count} texts but {labels.Count} labels");
        return (r.String(stemField), labels, texts);
    }

    /// <summary>Runs a read of a nested object so that a missing field is reported with its full path.</summary>
    static T Nested<T>(Func<T> read, string path)
    {
        try { return read(); }
        catch (RecordFieldException ex) { throw new RecordFieldException(path + ex.Field, ex.Reason); }
    }

    static int GoldByKey(List<string> labels, string answerKey)
    {
        int gold = labels.IndexOf(answerKey);
        return gold >= 0 ? gold : throw JsonRecord.Invalid("answerKey", $"'{answerKey}' is not one of the labels [{string.Join(", ", labels)}]");
    }

    static int CheckGold(int gold, int choiceCount, string field) =>
        gold >= 0 && gold < choiceCount ? gold : throw JsonRecord.Invalid(field, $"is {gold}, outside 0..{choiceCount - 1}");

    static string Id(JsonRecord r, string task) =>
        r.Has("id") && r.Get("id").ValueKind is JsonValueKind.String or JsonValueKind.Number ? r.Get("id").ToString()
        : r.Has("ind") ? r.Get("ind").ToString()
        : $"{task}-{r.Line}";

    static List<int> ReadLabels(string labelsPath)
    {
        var labels = new List<int>();
        int line = 0;
        foreach (string text in File.ReadLines(labelsPath))
        {
            line++;
            labels.Add(int.TryParse(text.Trim(), out int label) ? label
                : throw new InvalidDataException($"{labelsPath}:{line}: expected an integer label, found '{text}'."));
        }
        return labels;
    }
}
