using System.Globalization;
using System.Text;

namespace LlmFp4.Kit.Models.Loading;

/// <summary>ggml tensor element types, numbered as in <c>ggml.h</c> (gaps are types removed from GGUF).</summary>
public enum GgmlType : uint
{
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
    IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
    I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
    TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
}

/// <summary>GGUF metadata value types.</summary>
public enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
    String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>
/// One tensor of a GGUF file. <see cref="Dimensions"/> is ggml's <c>ne</c>, fastest axis first, so a
/// row-major <c>[out, in]</c> matrix has <c>ne = [in, out]</c>. <see cref="Offset"/> is absolute.
/// </summary>
public sealed record GgufTensorInfo(string Name, ulong[] Dimensions, GgmlType Type, long Offset)
{
    /// <summary>Row-major shape (slowest axis first), the reverse of <see cref="Dimensions"/>.</summary>
    public long[] Shape => Dimensions.Reverse().Select(d => (long)d).ToArray();
}

/// <summary>
/// A parsed GGUF file: header (magic <c>GGUF</c>, version, tensor and metadata counts), metadata
/// key/values, tensor infos and the aligned data section. Metadata values are boxed .NET values:
/// <c>byte, sbyte, ushort, short, uint, int, float, bool, string, ulong, long, double</c>, and arrays as
/// typed arrays of those (<c>string[]</c>, <c>int[]</c>, ...) or <c>object[]</c> of arrays when nested.
/// </summary>
public sealed record GgufFile(
    string Path, uint Version, IReadOnlyDictionary<string, object> Metadata, IReadOnlyList<GgufTensorInfo> Tensors,
    uint Alignment, long DataStart)
{
    public const uint Magic = 0x46554747; // "GGUF" read as a little-endian uint32
    public const uint DefaultAlignment = 32;
    public const string AlignmentKey = "general.alignment";

    public static GgufFile Read(string path)
    {
        using var file = MappedFile.Open(path);
        return GgufReader.Read(file);
    }
}

internal static class GgufReader
{
    private const int MaxDimensions = 4;

    public static GgufFile Read(MappedFile file)
    {
        string path = file.Path;
        var cursor = new ByteCursor(file);
        uint magic = cursor.U32("magic");
        if (magic != GgufFile.Magic)
            throw new InvalidDataException($"{path}: wrong magic 0x{magic:X8}, expected 'GGUF' (not a GGUF file).");
        uint version = cursor.U32("version");
        // Versions 2 and 3 share the little-endian layout; version 1 used 32-bit counts.
        if (version is not (2 or 3))
            throw new InvalidDataException(
                $"{path}: unsupported GGUF version {version} (supported: 2, 3)" +
                (System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(version) is 2 or 3 ? "; the file looks big-endian." : "."));
        ulong tensorCount = cursor.U64("tensor count");
        ulong metadataCount = cursor.U64("metadata count");
        // Each metadata pair takes at least 12 bytes and each tensor info at least 28: larger counts are corrupt.
        if (metadataCount > (ulong)cursor.Remaining / 12 || tensorCount > (ulong)cursor.Remaining / 28)
            throw new InvalidDataException($"{path}: header claims {tensorCount} tensors and {metadataCount} metadata pairs, more than the file can hold.");

        var metadata = new Dictionary<string, object>();
        for (ulong i = 0; i < metadataCount; i++)
        {
            string key = ReadString(cursor, path, $"metadata key #{i}");
            var type = (GgufValueType)cursor.U32($"type of metadata '{key}'");
            object value = ReadValue(cursor, path, type, key);
            if (!metadata.TryAdd(key, value)) throw new InvalidDataException($"{path}: metadata key '{key}' appears twice.");
        }

        uint alignment = GgufFile.DefaultAlignment;
        if (metadata.TryGetValue(GgufFile.AlignmentKey, out var alignmentValue))
        {
            if (alignmentValue is not uint a || a == 0 || (a & (a - 1)) != 0)
                throw new InvalidDataException($"{path}: {GgufFile.AlignmentKey} must be a power-of-two uint32, got {alignmentValue}.");
            alignment = a;
        }

        var infos = new List<(string Name, ulong[] Dims, GgmlType Type, ulong Offset)>();
        var names = new HashSet<string>();
        for (ulong i = 0; i < tensorCount; i++)
        {
            string name = ReadString(cursor, path, $"name of tensor #{i}");
            if (!names.Add(name)) throw new InvalidDataException($"{path}: tensor {name} appears twice.");
            uint dimensionCount = cursor.U32($"dimension count of tensor {name}");
            if (dimensionCount is 0 or > MaxDimensions)
                throw new InvalidDataException($"{path}: tensor {name} has {dimensionCount} dimensions (1 to {MaxDimensions} allowed).");
            var dims = new ulong[dimensionCount];
            for (int d = 0; d < dims.Length; d++)
            {
                dims[d] = cursor.U64($"dimension {d} of tensor {name}");
                if (dims[d] == 0 || dims[d] > int.MaxValue)
                    throw new InvalidDataException($"{path}: tensor {name} dimension {d} is {dims[d]}.");
            }
            var type = (GgmlType)cursor.U32($"type of tensor {name}");
            ulong offset = cursor.U64($"offset of tensor {name}");
            if (offset % alignment != 0)
                throw new InvalidDataException($"{path}: tensor {name} offset {offset} is not a multiple of the alignment {alignment}.");
            infos.Add((name, dims, type, offset));
        }

        long dataStart = AlignUp(cursor.Position, alignment);
        var tensors = infos.Select(t => new GgufTensorInfo(t.Name, t.Dims, t.Type,
            t.Offset > (ulong)(file.Length - dataStart)
                ? throw new InvalidDataException($"{path}: tensor {t.Name} offset {t.Offset} lies past the end of the file (truncated?).")
                : dataStart + (long)t.Offset)).ToList();
        CheckRanges(path, file.Length, tensors);
        return new GgufFile(path, version, metadata, tensors, alignment, dataStart);
    }

    internal static long AlignUp(long position, uint alignment) => (position + alignment - 1) / alignment * alignment;

    /// <summary>Bytes a tensor of a type the kit reads occupies, or null for other types; throws <see cref="OverflowException"/> when absurd.</summary>
    internal static long? ByteLength(GgufTensorInfo tensor) => ToDType(tensor.Type) is { } dtype
        ? checked(tensor.Dimensions.Aggregate(1L, (product, d) => checked(product * (long)d)) * dtype.ByteSize())
        : null;

    internal static DType? ToDType(GgmlType type) => type switch
    {
        GgmlType.F32 => DType.F32,
        GgmlType.F16 => DType.F16,
        GgmlType.BF16 => DType.BF16,
        _ => null,
    };

    internal static string TypeName(GgmlType type) =>
        Enum.IsDefined(type) ? type.ToString() : $"#{(uint)type}";

    private static void CheckRanges(string path, long fileLength, List<GgufTensorInfo> tensors)
    {
        GgufTensorInfo? previous = null;
        long previousEnd = 0;
        foreach (var tensor in tensors.Where(t => ToDType(t.Type) is not null).OrderBy(t => t.Offset))
        {
            long length;
            try { length = ByteLength(tensor)!.Value; }
            catch (OverflowException) { throw new InvalidDataException($"{path}: tensor {tensor.Name} is too large."); }
            if (length > fileLength - tensor.Offset)
                throw new InvalidDataException(
                    $"{path}: tensor {tensor.Name} needs bytes [{tensor.Offset}, {tensor.Offset + length}) but the file has {fileLength} bytes (truncated?).");
            if (previous is not null && tensor.Offset < previousEnd)
                throw new InvalidDataException($"{path}: tensor {tensor.Name} overlaps tensor {previous.Name}.");
            previous = tensor;
            previousEnd = tensor.Offset + length;
        }
    }

    private static string ReadString(ByteCursor cursor, string path, string what)
    {
        ulong length = cursor.U64($"length of {what}");
        if (length > (ulong)cursor.Remaining)
            throw new InvalidDataException($"{path}: {what} claims {length} bytes, {cursor.Remaining} remain (truncated or corrupt).");
        return Encoding.UTF8.GetString(cursor.Take((long)length, what));
    }

    private static object ReadValue(ByteCursor cursor, string path, GgufValueType type, string key) => type switch
    {
        GgufValueType.UInt8 => cursor.U8(key),
        GgufValueType.Int8 => (sbyte)cursor.U8(key),
        GgufValueType.UInt16 => cursor.U16(key),
        GgufValueType.Int16 => (short)cursor.U16(key),
        GgufValueType.UInt32 => cursor.U32(key),
        GgufValueType.Int32 => cursor.I32(key),
        GgufValueType.Float32 => cursor.F32(key),
        GgufValueType.Bool => cursor.U8(key) switch
        {
            0 => false,
            1 => true,
            var b => throw new InvalidDataException($"{path}: metadata '{key}' is a bool with byte value {b}."),
        },
        GgufValueType.String => ReadString(cursor, path, $"metadata '{key}'"),
        GgufValueType.UInt64 => cursor.U64(key),
        GgufValueType.Int64 => cursor.I64(key),
        GgufValueType.Float64 => cursor.F64(key),
        GgufValueType.Array => ReadArray(cursor, path, key),
        _ => throw new InvalidDataException($"{path}: metadata '{key}' has unknown value type {(uint)type}."),
    };

    private static Array ReadArray(ByteCursor cursor, string path, string key)
    {
        var elementType = (GgufValueType)cursor.U32($"element type of metadata '{key}'");
        ulong count = cursor.U64($"length of metadata '{key}'");
        int minimumBytes = elementType switch
        {
            GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
            GgufValueType.UInt16 or GgufValueType.Int16 => 2,
            GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
            GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String => 8,
            GgufValueType.Array => 12,
            _ => throw new InvalidDataException($"{path}: metadata '{key}' is an array of unknown type {(uint)elementType}."),
        };
        if (count > (ulong)cursor.Remaining / (ulong)minimumBytes)
            throw new InvalidDataException($"{path}: metadata '{key}' claims {count} elements, more than the file can hold (truncated or corrupt).");
        var clrType = elementType switch
        {
            GgufValueType.UInt8 => typeof(byte), GgufValueType.Int8 => typeof(sbyte),
            GgufValueType.UInt16 => typeof(ushort), GgufValueType.Int16 => typeof(short),
            GgufValueType.UInt32 => typeof(uint), GgufValueType.Int32 => typeof(int),
            GgufValueType.Float32 => typeof(float), GgufValueType.Bool => typeof(bool),
            GgufValueType.String => typeof(string), GgufValueType.UInt64 => typeof(ulong),
            GgufValueType.Int64 => typeof(long), GgufValueType.Float64 => typeof(double),
            _ => typeof(object),
        };
        var array = Array.CreateInstance(clrType, (int)count);
        for (int i = 0; i < array.Length; i++) array.SetValue(ReadValue(cursor, path, elementType, $"{key}[{i}]"), i);
        return array;
    }

    /// <summary>A metadata number as a double; a float32 goes through its shortest decimal, so 1e-5f reads as 1e-5.</summary>
    internal static double? AsDouble(object? value) => value switch
    {
        float f => double.Parse(f.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture),
        double d => d,
        _ => AsInteger(value),
    };

    internal static long? AsInteger(object? value) => value switch
    {
        byte v => v, sbyte v => v, ushort v => v, short v => v, uint v => v, int v => v, long v => v,
        ulong v when v <= long.MaxValue => (long)v,
        _ => null,
    };
}
