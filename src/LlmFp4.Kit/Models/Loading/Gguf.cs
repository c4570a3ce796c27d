using System.Globalization;
using System.Text;

namespace LlmFp4.Kit.Models.Loading;

/// <summary>ggml tensor element types, numbered as in <c>ggml.h</c> (gaps are types removed from GGUF). The kit loads F32, F16 and BF16 tensors and writes Q4_0; the block sizes of the others let it check a file's layout.</summary>
public enum GgmlType : uint
{
    /// <summary>0: IEEE float32.</summary>
    F32 = 0,
    /// <summary>1: IEEE float16.</summary>
    F16 = 1,
    /// <summary>2: 4-bit codes with one f16 scale per block (llama.cpp's Q4_0; written by <see cref="GgufWriter"/>); blocks of 32 elements in 18 bytes.</summary>
    Q4_0 = 2,
    /// <summary>3: 4-bit codes with an f16 scale and minimum per block; blocks of 32 elements in 20 bytes.</summary>
    Q4_1 = 3,
    /// <summary>6: 5-bit codes with one f16 scale per block; blocks of 32 elements in 22 bytes.</summary>
    Q5_0 = 6,
    /// <summary>7: 5-bit codes with an f16 scale and minimum per block; blocks of 32 elements in 24 bytes.</summary>
    Q5_1 = 7,
    /// <summary>8: 8-bit codes with one f16 scale per block; blocks of 32 elements in 34 bytes.</summary>
    Q8_0 = 8,
    /// <summary>9: 8-bit codes with an f16 scale and sum per block; blocks of 32 elements in 36 bytes.</summary>
    Q8_1 = 9,
    /// <summary>10: k-quant; super-blocks of 256 elements in 84 bytes.</summary>
    Q2_K = 10,
    /// <summary>11: k-quant; super-blocks of 256 elements in 110 bytes.</summary>
    Q3_K = 11,
    /// <summary>12: k-quant; super-blocks of 256 elements in 144 bytes.</summary>
    Q4_K = 12,
    /// <summary>13: k-quant; super-blocks of 256 elements in 176 bytes.</summary>
    Q5_K = 13,
    /// <summary>14: k-quant; super-blocks of 256 elements in 210 bytes.</summary>
    Q6_K = 14,
    /// <summary>15: k-quant; super-blocks of 256 elements in 292 bytes.</summary>
    Q8_K = 15,
    /// <summary>16: i-quant; blocks of 256 elements in 66 bytes.</summary>
    IQ2_XXS = 16,
    /// <summary>17: i-quant; blocks of 256 elements in 74 bytes.</summary>
    IQ2_XS = 17,
    /// <summary>18: i-quant; blocks of 256 elements in 98 bytes.</summary>
    IQ3_XXS = 18,
    /// <summary>19: i-quant; blocks of 256 elements in 50 bytes.</summary>
    IQ1_S = 19,
    /// <summary>20: i-quant; blocks of 32 elements in 18 bytes.</summary>
    IQ4_NL = 20,
    /// <summary>21: i-quant; blocks of 256 elements in 110 bytes.</summary>
    IQ3_S = 21,
    /// <summary>22: i-quant; blocks of 256 elements in 82 bytes.</summary>
    IQ2_S = 22,
    /// <summary>23: i-quant; blocks of 256 elements in 136 bytes.</summary>
    IQ4_XS = 23,
    /// <summary>24: int8.</summary>
    I8 = 24,
    /// <summary>25: int16.</summary>
    I16 = 25,
    /// <summary>26: int32.</summary>
    I32 = 26,
    /// <summary>27: int64.</summary>
    I64 = 27,
    /// <summary>28: IEEE float64.</summary>
    F64 = 28,
    /// <summary>29: i-quant; blocks of 256 elements in 56 bytes.</summary>
    IQ1_M = 29,
    /// <summary>30: bfloat16.</summary>
    BF16 = 30,
    /// <summary>34: ternary, 1.69 bits per weight; blocks of 256 elements in 54 bytes.</summary>
    TQ1_0 = 34,
    /// <summary>35: ternary, 2.06 bits per weight; blocks of 256 elements in 66 bytes.</summary>
    TQ2_0 = 35,
    /// <summary>39: OCP MX FP4: E2M1 codes with an E8M0 block scale; blocks of 32 elements in 17 bytes.</summary>
    MXFP4 = 39,
}

/// <summary>GGUF metadata value types.</summary>
public enum GgufValueType : uint
{
    /// <summary>0: uint8.</summary>
    UInt8 = 0,
    /// <summary>1: int8.</summary>
    Int8 = 1,
    /// <summary>2: uint16, little-endian.</summary>
    UInt16 = 2,
    /// <summary>3: int16, little-endian.</summary>
    Int16 = 3,
    /// <summary>4: uint32, little-endian.</summary>
    UInt32 = 4,
    /// <summary>5: int32, little-endian.</summary>
    Int32 = 5,
    /// <summary>6: IEEE float32.</summary>
    Float32 = 6,
    /// <summary>7: one byte; non-zero is true.</summary>
    Bool = 7,
    /// <summary>8: uint64 byte length, then UTF-8 bytes (no terminator).</summary>
    String = 8,
    /// <summary>9: element type (uint32), uint64 count, then the elements.</summary>
    Array = 9,
    /// <summary>10: uint64, little-endian.</summary>
    UInt64 = 10,
    /// <summary>11: int64, little-endian.</summary>
    Int64 = 11,
    /// <summary>12: IEEE float64.</summary>
    Float64 = 12,
}

/// <summary>
/// One tensor of a GGUF file. <see cref="Dimensions"/> is ggml's <c>ne</c>, fastest axis first, so a
/// row-major <c>[out, in]</c> matrix has <c>ne = [in, out]</c>; it may be empty (a scalar) or hold zeros (no
/// elements). <see cref="Offset"/> is absolute; <see cref="ByteLength"/> is the size of its data.
/// </summary>
public sealed record GgufTensorInfo(string Name, ulong[] Dimensions, GgmlType Type, long Offset, long ByteLength)
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
    /// <summary>The file's first four bytes, "GGUF", read as a little-endian uint32.</summary>
    public const uint Magic = 0x46554747; // "GGUF" read as a little-endian uint32
    /// <summary>Tensor data alignment in bytes when <see cref="AlignmentKey"/> is absent (GGUF spec).</summary>
    public const uint DefaultAlignment = 32;
    /// <summary>The metadata key that sets the tensor data alignment (a power-of-two uint32).</summary>
    public const string AlignmentKey = "general.alignment";

    /// <summary>Parses the header, metadata and tensor infos of the GGUF file at <paramref name="path"/> (the tensor data is not read).</summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">An empty file, a wrong magic or version, or a header llama.cpp's reader refuses; the message names the file and the key or tensor at fault.</exception>
    public static GgufFile Read(string path)
    {
        using var file = MappedFile.Open(path);
        return GgufReader.Read(file);
    }
}

/// <summary>
/// Reads a GGUF file, accepting and refusing what llama.cpp's reader (<c>ggml/src/gguf.cpp</c>) does: keys must be
/// non-empty and unique; tensor names shorter than 64 bytes and unique; 0 to 4 dimensions of any non-negative size
/// whose product fits int64 (an empty or scalar tensor is fine); a known ggml type whose block divides the first
/// dimension; tensor data in info order, each tensor at the previous one's end rounded up to the alignment, and
/// inside the file. A bool is any byte, non-zero meaning true.
/// </summary>
internal static class GgufReader
{
    private const int MaxDimensions = 4;

    /// <summary>ggml's GGML_MAX_NAME: a tensor name takes at most 63 bytes.</summary>
    private const int MaxNameBytes = 63;

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
            if (key.Length == 0) throw new InvalidDataException($"{path}: metadata key #{i} is empty.");
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

        var infos = new List<(string Name, ulong[] Dims, GgmlType Type, ulong Offset, long Bytes)>();
        var names = new HashSet<string>();
        for (ulong i = 0; i < tensorCount; i++)
        {
            string name = ReadString(cursor, path, $"name of tensor #{i}");
            if (Encoding.UTF8.GetByteCount(name) > MaxNameBytes)
                throw new InvalidDataException($"{path}: tensor name '{name}' is longer than ggml's {MaxNameBytes} bytes.");
            if (!names.Add(name)) throw new InvalidDataException($"{path}: tensor {name} appears twice.");
            uint dimensionCount = cursor.U32($"dimension count of tensor {name}");
            if (dimensionCount > MaxDimensions)
                throw new InvalidDataException($"{path}: tensor {name} has {dimensionCount} dimensions (at most {MaxDimensions}).");
            var dims = new ulong[dimensionCount];
            for (int d = 0; d < dims.Length; d++)
            {
                dims[d] = cursor.U64($"dimension {d} of tensor {name}");
                if (dims[d] > long.MaxValue)
                    throw new InvalidDataException($"{path}: tensor {name} dimension {d} is {dims[d]}.");
            }
            var type = (GgmlType)cursor.U32($"type of tensor {name}");
            long bytes = TensorBytes(path, name, dims, type);
            ulong offset = cursor.U64($"offset of tensor {name}");
            infos.Add((name, dims, type, offset, bytes));
        }

        long dataStart = AlignUp(cursor.Position, alignment);
        var tensors = new List<GgufTensorInfo>(infos.Count);
        ulong expected = 0;
        foreach (var (name, dims, type, offset, bytes) in infos)
        {
            if (offset != expected)
                throw new InvalidDataException(
                    $"{path}: tensor {name} has data offset {offset}, expected {expected} (tensor data must follow in info order, each at a multiple of the alignment {alignment}).");
            if (bytes > file.Length - dataStart - (long)offset)
                throw new InvalidDataException(
                    $"{path}: tensor {name} needs bytes [{dataStart + (long)offset}, {dataStart + (long)offset + bytes}) but the file has {file.Length} bytes (truncated?).");
            tensors.Add(new GgufTensorInfo(name, dims, type, dataStart + (long)offset, bytes));
            expected = (ulong)AlignUp((long)offset + bytes, alignment);
        }
        return new GgufFile(path, version, metadata, tensors, alignment, dataStart);
    }

    internal static long AlignUp(long position, uint alignment) => (position + alignment - 1) / alignment * alignment;

    /// <summary>
    /// (elements per block, bytes per block) of each ggml type, from ggml's type traits; types removed from ggml
    /// (4, 5, 31–33, 36–38) and numbers past the last are not here.
    /// </summary>
    private static readonly Dictionary<GgmlType, (int Block, int Bytes)> Blocks = new()
    {
        [GgmlType.F32] = (1, 4), [GgmlType.F16] = (1, 2), [GgmlType.Q4_0] = (32, 18), [GgmlType.Q4_1] = (32, 20),
        [GgmlType.Q5_0] = (32, 22), [GgmlType.Q5_1] = (32, 24), [GgmlType.Q8_0] = (32, 34), [GgmlType.Q8_1] = (32, 36),
        [GgmlType.Q2_K] = (256, 84), [GgmlType.Q3_K] = (256, 110), [GgmlType.Q4_K] = (256, 144), [GgmlType.Q5_K] = (256, 176),
        [GgmlType.Q6_K] = (256, 210), [GgmlType.Q8_K] = (256, 292), [GgmlType.IQ2_XXS] = (256, 66), [GgmlType.IQ2_XS] = (256, 74),
        [GgmlType.IQ3_XXS] = (256, 98), [GgmlType.IQ1_S] = (256, 50), [GgmlType.IQ4_NL] = (32, 18), [GgmlType.IQ3_S] = (256, 110),
        [GgmlType.IQ2_S] = (256, 82), [GgmlType.IQ4_XS] = (256, 136), [GgmlType.I8] = (1, 1), [GgmlType.I16] = (1, 2),
        [GgmlType.I32] = (1, 4), [GgmlType.I64] = (1, 8), [GgmlType.F64] = (1, 8), [GgmlType.IQ1_M] = (256, 56),
        [GgmlType.BF16] = (1, 2), [GgmlType.TQ1_0] = (256, 54), [GgmlType.TQ2_0] = (256, 66), [GgmlType.MXFP4] = (32, 17),
    };

    /// <summary>The data size of a tensor: whole blocks along the first dimension, times the other dimensions.</summary>
    private static long TensorBytes(string path, string name, ulong[] dims, GgmlType type)
    {
        if (!Blocks.TryGetValue(type, out var block))
            throw new InvalidDataException($"{path}: tensor {name} has ggml type {TypeName(type)}, which ggml does not define.");
        long first = dims.Length == 0 ? 1 : (long)dims[0];
        if (first % block.Block != 0)
            throw new InvalidDataException($"{path}: tensor {name} of type {TypeName(type)} has {first} elements per row, not a multiple of its block of {block.Block}.");
        if (dims.Any(d => d == 0))
            return 0;
        try
        {
            return checked(dims.Skip(1).Aggregate(first / block.Block * block.Bytes, (product, d) => product * (long)d));
        }
        catch (OverflowException)
        {
            throw new InvalidDataException($"{path}: tensor {name} with ne = [{string.Join(", ", dims)}] is too large.");
        }
    }

    internal static DType? ToDType(GgmlType type) => type switch
    {
        GgmlType.F32 => DType.F32,
        GgmlType.F16 => DType.F16,
        GgmlType.BF16 => DType.BF16,
        _ => null,
    };

    internal static string TypeName(GgmlType type) =>
        Enum.IsDefined(type) ? type.ToString() : $"#{(uint)type}";

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
        GgufValueType.Bool => cursor.U8(key) != 0,
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
