using System.Text.Json;

namespace LlmFp4.Kit.Evaluation;

/// <summary>A record left out of a task file because a field was missing or unusable.</summary>
public sealed record SkippedRecord(string File, int Line, string Field, string Reason)
{
    /// <summary>"file:line: skipped, field 'f' reason", the form the CLI prints.</summary>
    public override string ToString() => $"{File}:{Line}: skipped, field '{Field}' {Reason}";
}

/// <summary>What a task reader produced: the usable items and the records it had to skip.</summary>
public sealed record TaskFile<T>(IReadOnlyList<T> Items, IReadOnlyList<SkippedRecord> Skipped);

/// <summary>Thrown by <see cref="JsonRecord"/> accessors; the reader turns it into a <see cref="SkippedRecord"/>.</summary>
sealed class RecordFieldException(string field, string reason) : Exception($"field '{field}' {reason}")
{
    public string Field { get; } = field;
    public string Reason { get; } = reason;
}

/// <summary>One JSON object of a JSON-lines file, with accessors that name the field at fault.</summary>
public readonly struct JsonRecord(JsonElement root, int line)
{
    /// <summary>The record's JSON object.</summary>
    public JsonElement Root { get; } = root;

    /// <summary>1-based line number in the file.</summary>
    public int Line { get; } = line;

    /// <summary>Whether <paramref name="field"/> is present and not null.</summary>
    public bool Has(string field) => Root.TryGetProperty(field, out var v) && v.ValueKind != JsonValueKind.Null;

    /// <summary>The value of <paramref name="field"/>; a missing or null field makes <see cref="JsonlRecords.Read"/> skip the record, naming it.</summary>
    public JsonElement Get(string field) =>
        Root.TryGetProperty(field, out var value) && value.ValueKind != JsonValueKind.Null
            ? value
            : throw new RecordFieldException(field, "is missing");

    /// <summary>The string value of <paramref name="field"/>; a missing or non-string field makes <see cref="JsonlRecords.Read"/> skip the record.</summary>
    public string String(string field) => AsString(Get(field), field);

    /// <summary>An integer given as a JSON number or as a string of digits (datasets store labels both ways).</summary>
    public int Int(string field) => AsInt(Get(field), field);

    /// <summary><paramref name="value"/> as a string; otherwise the record is skipped, naming <paramref name="field"/>.</summary>
    public static string AsString(JsonElement value, string field) =>
        value.ValueKind == JsonValueKind.String ? value.GetString()! : throw new RecordFieldException(field, "is not a string");

    /// <summary><paramref name="value"/> as an int, from a JSON number or a string of digits; otherwise the record is skipped, naming <paramref name="field"/>.</summary>
    public static int AsInt(JsonElement value, string field) => value.ValueKind switch
    {
        JsonValueKind.Number when value.TryGetInt32(out int i) => i,
        JsonValueKind.String when int.TryParse(value.GetString(), System.Globalization.NumberStyles.Integer,
            System.Globalization.CultureInfo.InvariantCulture, out int i) => i,
        _ => throw new RecordFieldException(field, "is not an integer"),
    };

    /// <summary>The elements of an array field, each read with <paramref name="read"/>.</summary>
    public static List<T> AsArray<T>(JsonElement value, string field, Func<JsonElement, T> read) =>
        value.ValueKind == JsonValueKind.Array
            ? [.. value.EnumerateArray().Select(read)]
            : throw new RecordFieldException(field, "is not an array");

    /// <summary>Rejects a record whose content is unusable, naming the field.</summary>
    public static Exception Invalid(string field, string reason) => new RecordFieldException(field, reason);
}

/// <summary>Reads JSON-lines task files: one JSON object per non-blank line.</summary>
public static class JsonlRecords
{
    /// <summary>
    /// Maps every record of <paramref name="path"/> with <paramref name="map"/>. A line that is not a JSON object
    /// stops the read with an <see cref="InvalidDataException"/> naming the file and line (the file is broken);
    /// a record whose fields are missing or unusable is skipped and listed, so one bad record never ends a run.
    /// </summary>
    public static TaskFile<T> Read<T>(string path, Func<JsonRecord, T> map)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Task file not found: {path}", path);
        var items = new List<T>();
        var skipped = new List<SkippedRecord>();
        int lineNumber = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
                continue;
            JsonElement root;
            try
            {
                using var document = JsonDocument.Parse(line);
                root = document.RootElement.Clone();
            }
            catch (JsonException ex)
            {
                throw new InvalidDataException($"{path}:{lineNumber}: malformed JSON ({ex.Message})", ex);
            }
            if (root.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{path}:{lineNumber}: expected a JSON object, found {root.ValueKind}.");
            try
            {
                items.Add(map(new JsonRecord(root, lineNumber)));
            }
            catch (RecordFieldException ex)
            {
                skipped.Add(new SkippedRecord(path, lineNumber, ex.Field, ex.Reason));
            }
        }
        return new TaskFile<T>(items, skipped);
    }
}
