using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace LlmFp4.Kit.Data;

/// <summary>
/// A value read from R's serialization format: a vector (character, integer, logical, double or list)
/// with its <c>names</c> attribute when it has one. Only the subset that R data packages use is supported.
/// </summary>
/// <param name="Items">
/// <c>string?[]</c> for character vectors (null = NA), <c>int[]</c> for integer and logical vectors,
/// <c>double[]</c> for doubles, <c>RValue?[]</c> for lists (null = NULL).
/// </param>
/// <param name="Names">The <c>names</c> attribute, when present.</param>
public sealed record RValue(Array Items, string?[]? Names)
{
    /// <summary>The element called <paramref name="name"/> of a named list, or null when absent.</summary>
    public RValue? Element(string name)
    {
        if (Items is not RValue?[] list || Names is null)
            return null;
        int i = Array.IndexOf(Names, name);
        return i < 0 ? null : list[i];
    }
}

/// <summary>
/// Reader for R's XDR serialization (versions 2 and 3, as written by <c>saveRDS</c> and lazy-load databases),
/// limited to vectors, lists, pairlists of attributes and symbols. Anything else (environments, closures,
/// ALTREP objects) is rejected with a message naming the source and the type code.
/// </summary>
public static class RSerialization
{
    /// <summary>Reads one serialized R object from <paramref name="data"/> ("X\n" header, big-endian).</summary>
    /// <param name="data">The serialized bytes.</param>
    /// <param name="source">Name used in error messages (file and object).</param>
    public static RValue? Read(ReadOnlySpan<byte> data, string source) => new XdrReader(data.ToArray(), source).ReadTop();

    /// <summary>
    /// Reads a lazy-load database (<c>Rdata.rdx</c> + <c>Rdata.rdb</c>, as installed R packages store their data
    /// sets) and returns every object in it by name. The index is a gzip-compressed serialized list
    /// <c>variables = list(name = c(offset, length))</c>; each chunk of the .rdb is a 4-byte big-endian
    /// uncompressed length followed by a zlib stream.
    /// </summary>
    public static IReadOnlyDictionary<string, RValue?> ReadLazyLoadDatabase(string rdxPath, string rdbPath)
    {
        byte[] index;
        try
        {
            using var gz = new GZipStream(File.OpenRead(rdxPath), CompressionMode.Decompress);
            using var ms = new MemoryStream();
            gz.CopyTo(ms);
            index = ms.ToArray();
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"{rdxPath}: not a gzip-compressed R index ({ex.Message}).", ex);
        }
        var root = Read(index, rdxPath) ?? throw new InvalidDataException($"{rdxPath}: the index is NULL.");
        var compressed = root.Element("compressed");
        if (compressed is { Items: int[] c } && c.Length == 1 && c[0] != 1)
            throw new InvalidDataException($"{rdxPath}: compression type {c[0]} is not supported (only zlib, type 1/TRUE).");
        var variables = root.Element("variables")
            ?? throw new InvalidDataException($"{rdxPath}: the index has no 'variables' element.");
        if (variables.Items is not RValue?[] entries || variables.Names is null)
            throw new InvalidDataException($"{rdxPath}: 'variables' is not a named list.");

        var rdb = File.ReadAllBytes(rdbPath);
        var result = new Dictionary<string, RValue?>(StringComparer.Ordinal);
        for (int i = 0; i < entries.Length; i++)
        {
            string name = variables.Names[i] ?? $"#{i + 1}";
            if (entries[i] is not { Items: int[] { Length: 2 } pos })
                throw new InvalidDataException($"{rdxPath}: entry '{name}' is not an (offset, length) pair.");
            result[name] = Read(ReadChunk(rdb, pos[0], pos[1], $"{rdbPath} ({name})"), $"{rdbPath} ({name})");
        }
        return result;
    }

    /// <summary>Inflates one lazy-load chunk: 4-byte big-endian uncompressed length, then a zlib stream.</summary>
    internal static byte[] ReadChunk(byte[] rdb, int offset, int length, string source)
    {
        if (offset < 0 || length < 4 || (long)offset + length > rdb.Length)
            throw new InvalidDataException($"{source}: chunk [{offset}, +{length}) lies outside the {rdb.Length}-byte file.");
        int expected = BinaryPrimitives.ReadInt32BigEndian(rdb.AsSpan(offset, 4));
        if (expected < 0)
            throw new InvalidDataException($"{source}: negative uncompressed length {expected}.");
        var output = new byte[expected];
        try
        {
            using var z = new ZLibStream(new MemoryStream(rdb, offset + 4, length - 4), CompressionMode.Decompress);
            z.ReadExactly(output);
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException)
        {
            throw new InvalidDataException($"{source}: corrupt zlib chunk ({ex.Message}).", ex);
        }
        return output;
    }

    private sealed class XdrReader(byte[] data, string source)
    {
        // SEXP type codes from R's Rinternals.h / serialize.c.
        private const int SymSxp = 1, ListSxp = 2, CharSxp = 9, LglSxp = 10, IntSxp = 13, RealSxp = 14,
            StrSxp = 16, VecSxp = 19, ExprSxp = 20, RefSxp = 255, NilValueSxp = 254, AltRepSxp = 238;
        private const int BytesMask = 1 << 1, Latin1Mask = 1 << 2, Utf8Mask = 1 << 3, AsciiMask = 1 << 6;

        private int _pos;
        private readonly List<object?> _refs = [];
        private Encoding _native = Encoding.UTF8;

        public RValue? ReadTop()
        {
            if (data.Length < 2 || data[0] != (byte)'X' || data[1] != (byte)'\n')
                throw Error("not an R XDR serialization (expected header \"X\\n\")");
            _pos = 2;
            int version = ReadInt();
            ReadInt(); // writer's R version
            ReadInt(); // minimal R version to read it
            if (version == 3)
                _native = EncodingByName(Encoding.ASCII.GetString(ReadBytes(ReadInt())));
            else if (version != 2)
                throw Error($"serialization version {version} is not supported (2 or 3)");
            return ReadItem() as RValue;
        }

        private object? ReadItem()
        {
            int flags = ReadInt();
            int type = flags & 0xFF;
            bool hasAttr = (flags & (1 << 9)) != 0, hasTag = (flags & (1 << 10)) != 0;
            switch (type)
            {
                case NilValueSxp:
                    return null;
                case RefSxp:
                {
                    int index = flags >> 8;
                    if (index == 0)
                        index = ReadInt();
                    if (index < 1 || index > _refs.Count)
                        throw Error($"reference {index} is out of range ({_refs.Count} known)");
                    return _refs[index - 1];
                }
                case SymSxp:
                {
                    var name = ReadItem() as string;
                    _refs.Add(name);
                    return name;
                }
                case CharSxp:
                    return ReadCharsxp(flags >> 12);
                case ListSxp:
                {
                    // Pairlists appear here as attribute lists: (attr?, tag?, car, cdr), flattened.
                    var values = new List<RValue?>();
                    var names = new List<string?>();
                    while (true)
                    {
                        if (hasAttr)
                            ReadItem();
                        names.Add(hasTag ? ReadItem() as string : null);
                        values.Add(ReadItem() as RValue);
                        flags = ReadInt();
                        type = flags & 0xFF;
                        if (type == NilValueSxp)
                            break;
                        if (type != ListSxp)
                            throw Error($"pairlist continues with type {type}");
                        hasAttr = (flags & (1 << 9)) != 0;
                        hasTag = (flags & (1 << 10)) != 0;
                    }
                    return new RValue(values.ToArray(), names.ToArray());
                }
                case LglSxp or IntSxp:
                {
                    var items = new int[ReadLength()];
                    for (int i = 0; i < items.Length; i++)
                        items[i] = ReadInt();
                    return WithAttributes(items, hasAttr);
                }
                case RealSxp:
                {
                    var items = new double[ReadLength()];
                    for (int i = 0; i < items.Length; i++)
                        items[i] = BitConverter.Int64BitsToDouble(BinaryPrimitives.ReadInt64BigEndian(ReadBytes(8)));
                    return WithAttributes(items, hasAttr);
                }
                case StrSxp:
                {
                    var items = new string?[ReadLength()];
                    for (int i = 0; i < items.Length; i++)
                    {
                        int f = ReadInt();
                        if ((f & 0xFF) != CharSxp)
                            throw Error($"element {i} of a character vector has type {f & 0xFF}, not CHARSXP");
                        items[i] = ReadCharsxp(f >> 12);
                    }
                    return WithAttributes(items, hasAttr);
                }
                case VecSxp or ExprSxp:
                {
                    var items = new RValue?[ReadLength()];
                    for (int i = 0; i < items.Length; i++)
                        items[i] = ReadItem() as RValue;
                    return WithAttributes(items, hasAttr);
                }
                case AltRepSxp:
                    throw Error("ALTREP objects are not supported");
                default:
                    throw Error($"R object type {type} is not supported (only vectors, lists and attributes)");
            }
        }

        private RValue WithAttributes(Array items, bool hasAttr)
        {
            string?[]? names = null;
            if (hasAttr && ReadItem() is RValue attributes && attributes.Element("names") is { Items: string?[] n })
                names = n;
            return new RValue(items, names);
        }

        private string? ReadCharsxp(int levels)
        {
            int length = ReadInt();
            if (length == -1)
                return null;
            var bytes = ReadBytes(length);
            // Latin-1 strings, and "bytes" strings read one character per byte; UTF-8 and ASCII flags, or else
            // the writer's native encoding, mean UTF-8.
            var encoding = (levels & (Latin1Mask | BytesMask)) != 0 ? Encoding.Latin1
                : (levels & (Utf8Mask | AsciiMask)) != 0 ? Encoding.UTF8
                : _native;
            return encoding.GetString(bytes);
        }

        private int ReadLength()
        {
            int length = ReadInt();
            if (length != -1)
                return length >= 0 ? length : throw Error($"negative vector length {length}");
            long upper = ReadInt(), lower = (uint)ReadInt();
            long full = (upper << 32) | lower;
            return full <= Array.MaxLength ? (int)full : throw Error($"vector length {full} is too long");
        }

        private int ReadInt() => BinaryPrimitives.ReadInt32BigEndian(ReadBytes(4));

        private ReadOnlySpan<byte> ReadBytes(int count)
        {
            if (count < 0 || _pos + (long)count > data.Length)
                throw Error($"truncated: needs {count} bytes at offset {_pos} of {data.Length}");
            var span = data.AsSpan(_pos, count);
            _pos += count;
            return span;
        }

        private static Encoding EncodingByName(string name) =>
            name.Equals("latin1", StringComparison.OrdinalIgnoreCase) || name.Equals("ISO-8859-1", StringComparison.OrdinalIgnoreCase)
                ? Encoding.Latin1 : Encoding.UTF8;

        private InvalidDataException Error(string what) => new($"{source}: {what}.");
    }
}
