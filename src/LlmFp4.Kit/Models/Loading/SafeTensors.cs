using System.Text;
using System.Text.Unicode;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace LlmFp4.Kit.Models.Loading;

/// <summary>One tensor of a safetensors file. <see cref="Begin"/>/<see cref="End"/> are absolute file offsets.</summary>
public sealed record SafeTensorsEntry(string Name, string DType, long[] Shape, long Begin, long End);

/// <summary>The parsed, validated header of a safetensors file.</summary>
public sealed record SafeTensorsHeader(
    string Path, IReadOnlyList<SafeTensorsEntry> Entries, IReadOnlyDictionary<string, string> Metadata, long DataStart);

/// <summary>
/// Reads the safetensors layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
/// (<c>{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}</c>,
/// offsets relative to the byte after the header, possibly space-padded), then the data. Like the
/// reference implementation it requires the tensors to tile the data exactly: no overlap, no gap,
/// nothing after the last tensor.
/// </summary>
public static class SafeTensorsReader
{
    /// <summary>The reference implementation's limit on the header; a larger one is corrupt or hostile.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private static readonly Dictionary<string, int> ElementBytes = new()
    {
        ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["F8_E5M2"] = 1, ["F8_E4M3"] = 1,
        ["U16"] = 2, ["I16"] = 2, ["F16"] = 2, ["BF16"] = 2,
        ["U32"] = 4, ["I32"] = 4, ["F32"] = 4,
        ["U64"] = 8, ["I64"] = 8, ["F64"] = 8,
    };

    /// <summary>The kit's dtype for a safetensors dtype name, or null for one it does not convert.</summary>
    public static DType? ToDType(string name) => name switch
    {
        "F32" => DType.F32,
        "F16" => DType.F16,
        "BF16" => DType.BF16,
        _ => null,
    };

    /// <summary>Parses and checks the header of the safetensors file at <paramref name="path"/> (the 8-byte length and the JSON header; the data is not read).</summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">A header the reference implementation refuses (too long, not JSON, unknown dtype, offsets that overlap, leave gaps or run past the file); the message names the file and tensor.</exception>
    public static SafeTensorsHeader ReadHeader(string path)
    {
        using var file = MappedFile.Open(path);
        return ReadHeader(file);
    }

    internal static SafeTensorsHeader ReadHeader(MappedFile file)
    {
        string path = file.Path;
        if (file.Length < 8) throw new InvalidDataException($"{path}: {file.Length} bytes is too short for a safetensors header.");
        ulong headerLength = BitConverter.ToUInt64(file.Bytes(0, 8));
        if (headerLength > MaxHeaderBytes)
            throw new InvalidDataException($"{path}: header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit (not a safetensors file?).");
        if ((long)headerLength > file.Length - 8)
            throw new InvalidDataException($"{path}: header length {headerLength} runs past the end of the file ({file.Length} bytes; truncated?).");
        var json = file.Bytes(8, (int)headerLength);
        if (json.Length == 0 || json[0] != (byte)'{')
            throw new InvalidDataException($"{path}: header does not start with '{{' (not a safetensors file?).");
        if (!Utf8.IsValid(json))
            throw new InvalidDataException($"{path}: header is not valid UTF-8.");
        long dataStart = 8 + (long)headerLength;
        long dataLength = file.Length - dataStart;

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path}: header is not valid JSON ({ex.Message}).", ex);
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{path}: header is not a JSON object.");
            var metadata = new Dictionary<string, string>();
            var entries = new List<SafeTensorsEntry>();
            var names = new HashSet<string>();
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!names.Add(property.Name))
                    throw new InvalidDataException($"{path}: header names '{property.Name}' twice.");
                if (property.Name == "__metadata__")
                    ReadMetadata(path, property.Value, metadata);
                else
                    entries.Add(ReadEntry(path, property.Name, property.Value, dataStart, dataLength));
            }
            CheckTiling(path, entries, dataStart, dataLength);
            return new SafeTensorsHeader(path, entries, metadata, dataStart);
        }
    }

    private static void ReadMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        // The reference reader deserialises __metadata__ as an optional map, so null means no metadata.
        if (value.ValueKind == JsonValueKind.Null)
            return;
        if (value.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{path}: __metadata__ must be an object of strings.");
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw new InvalidDataException($"{path}: __metadata__ value '{item.Name}' is not a string.");
            metadata[item.Name] = item.Value.GetString()!;
        }
    }

    private static SafeTensorsEntry ReadEntry(string path, string name, JsonElement value, long dataStart, long dataLength)
    {
        string where = $"{path}: tensor {name}";
        if (value.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{where}: header entry is not an object.");
        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new InvalidDataException($"{where}: missing string 'dtype'.");
        string dtype = dtypeElement.GetString()!;
        if (!ElementBytes.TryGetValue(dtype, out int elementBytes))
            throw new InvalidDataException($"{where}: unknown dtype '{dtype}'.");
        long[] shape = ReadIntegers(where, value, "shape", count: null);
        long[] offsets = ReadIntegers(where, value, "data_offsets", count: 2);
        long begin = offsets[0], end = offsets[1];
        if (begin > end)
            throw new InvalidDataException($"{where}: data_offsets [{begin}, {end}] end before they begin.");
        long expectedBytes;
        try
        {
            expectedBytes = checked(shape.Aggregate(1L, (product, dim) => product * dim) * elementBytes);
        }
        catch (OverflowException)
        {
            throw new InvalidDataException($"{where}: shape {LlamaTensorLayout.FormatShape(shape)} is too large.");
        }
        if (end - begin != expectedBytes)
            throw new InvalidDataException(
                $"{where}: dtype {dtype} with shape {LlamaTensorLayout.FormatShape(shape)} needs {expectedBytes} bytes, " +
                $"but data_offsets [{begin}, {end}] span {end - begin}.");
        if (end > dataLength)
            throw new InvalidDataException(
                $"{where}: data_offsets end at {end} but the file holds only {dataLength} data bytes (truncated?).");
        return new SafeTensorsEntry(name, dtype, shape, dataStart + begin, dataStart + end);
    }

    private static long[] ReadIntegers(string where, JsonElement value, string property, int? count)
    {
        if (!value.TryGetProperty(property, out var array) || array.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{where}: missing array '{property}'.");
        if (count is not null && array.GetArrayLength() != count)
            throw new InvalidDataException($"{where}: '{property}' must have {count} entries, has {array.GetArrayLength()}.");
        var integers = new long[array.GetArrayLength()];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out integers[i]) || integers[i] < 0)
                throw new InvalidDataException($"{where}: '{property}' must hold non-negative integers, found {item.GetRawText()}.");
            i++;
        }
        return integers;
    }

    private static void CheckTiling(string path, List<SafeTensorsEntry> entries, long dataStart, long dataLength)
    {
        long expectedBegin = dataStart;
        SafeTensorsEntry? previous = null;
        foreach (var entry in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (entry.Begin < expectedBegin)
                throw new InvalidDataException(
                    $"{path}: tensor {entry.Name} (bytes {entry.Begin - dataStart}..{entry.End - dataStart}) overlaps tensor {previous!.Name} " +
                    $"(bytes {previous.Begin - dataStart}..{previous.End - dataStart}).");
            if (entry.Begin > expectedBegin)
                throw new InvalidDataException(
                    $"{path}: {entry.Begin - expectedBegin} unused bytes before tensor {entry.Name}; data_offsets must tile the data.");
            expectedBegin = entry.End;
            previous = entry;
        }
        if (expectedBegin != dataStart + dataLength)
            throw new InvalidDataException(
                $"{path}: {dataStart + dataLength - expectedBegin} bytes after the last tensor; data_offsets must tile the data.");
    }
}

/// <summary>A float32 tensor to store in a file, converted to <see cref="DType"/> on write.</summary>
public sealed record TensorToWrite(string Name, int[] Shape, ReadOnlyMemory<float> Values, DType DType)
{
    internal void Check()
    {
        if (Shape.Any(dim => dim < 0) || LlamaTensorLayout.ElementCount(Shape) != Values.Length)
            throw new ArgumentException($"tensor {Name}: shape {LlamaTensorLayout.FormatShape(Shape)} does not hold {Values.Length} values.");
    }

    /// <summary>Writes the values converted to <see cref="DType"/> in chunks, without a copy of the whole tensor.</summary>
    internal void WriteData(Stream stream)
    {
        const int chunk = 1 << 16;
        var buffer = new byte[chunk * DType.ByteSize()];
        for (int start = 0; start < Values.Length; start += chunk)
        {
            int count = Math.Min(chunk, Values.Length - start);
            var bytes = buffer.AsSpan(0, count * DType.ByteSize());
            DTypes.FromFloat32(Values.Span.Slice(start, count), DType, bytes);
            stream.Write(bytes);
        }
    }
}

/// <summary>
/// Writes safetensors files the way the reference implementation lays them out: tensors ordered by
/// element size (largest first, which keeps every tensor aligned to its element) then by name, the
/// JSON header space-padded so the data starts at a multiple of 8 bytes. Written to a temporary file, then renamed.
/// </summary>
public static class SafeTensorsWriter
{
    /// <summary>Writes <paramref name="tensors"/> and the optional string <paramref name="metadata"/> (<c>__metadata__</c>) to a safetensors file at <paramref name="path"/>, through a temporary file.</summary>
    /// <exception cref="ArgumentException">A tensor name given twice, or a tensor named <c>__metadata__</c>.</exception>
    public static void Write(string path, IEnumerable<TensorToWrite> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var ordered = tensors
            .OrderByDescending(t => t.DType.ByteSize())
            .ThenBy(t => t.Name, StringComparer.Ordinal)
            .ToList();
        var duplicate = ordered.GroupBy(t => t.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"{path}: tensor {duplicate.Key} given twice.");
        if (ordered.Any(t => t.Name == "__metadata__")) throw new ArgumentException($"{path}: '__metadata__' is not a tensor name.");
        foreach (var tensor in ordered) tensor.Check();

        byte[] header = Header(ordered, metadata);
        AtomicFile.Write(path, stream =>
        {
            stream.Write(BitConverter.GetBytes((ulong)header.Length));
            stream.Write(header);
            foreach (var tensor in ordered) tensor.WriteData(stream);
        });
    }

    private static byte[] Header(List<TensorToWrite> ordered, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata.OrderBy(m => m.Key, StringComparer.Ordinal)) json.WriteString(key, value);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var tensor in ordered)
            {
                long bytes = (long)tensor.Values.Length * tensor.DType.ByteSize();
                json.WriteStartObject(tensor.Name);
                json.WriteString("dtype", tensor.DType.ToString());
                json.WriteStartArray("shape");
                foreach (int dim in tensor.Shape) json.WriteNumberValue(dim);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        int padding = (int)((8 - (8 + buffer.Length) % 8) % 8);
        buffer.Write(Encoding.ASCII.GetBytes(new string(' ', padding)));
        return buffer.ToArray();
    }
}
