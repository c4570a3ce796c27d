using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using LlmFp4.Kit.Data;

namespace LlmFp4.Kit.Tests.Data;

/// <summary>R XDR (version 3) and lazy-load databases, on bytes built here the way R writes them.</summary>
public class RSerializationTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("llmfp4-rdata-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>Writes the subset of R's XDR serialization the reader supports.</summary>
    private sealed class XdrWriter
    {
        private readonly MemoryStream _stream = new();
        private bool _namesSymbolWritten;

        public XdrWriter()
        {
            _stream.Write("X\n"u8);
            Int(3);
            Int(0x00040201); // written by R 4.2.1
            Int(0x00030500);
            Int(5);
            _stream.Write("UTF-8"u8);
        }

        public byte[] Bytes => _stream.ToArray();

        public XdrWriter Int(int value)
        {
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteInt32BigEndian(b, value);
            _stream.Write(b);
            return this;
        }

        /// <summary>CHARSXP; levels: 8 = UTF-8, 4 = Latin-1, 64 = ASCII; null = NA.</summary>
        public XdrWriter CharSxp(string? value, int levels = 64)
        {
            Int(9 | (levels << 12));
            if (value is null)
                return Int(-1);
            var bytes = levels == 4 ? Encoding.Latin1.GetBytes(value) : Encoding.UTF8.GetBytes(value);
            Int(bytes.Length);
            _stream.Write(bytes);
            return this;
        }

        public XdrWriter Strings(string?[] items, int levels = 64)
        {
            Int(16).Int(items.Length);
            foreach (var s in items)
                CharSxp(s, levels);
            return this;
        }

        public XdrWriter Ints(params int[] items)
        {
            Int(13).Int(items.Length);
            foreach (int i in items)
                Int(i);
            return this;
        }

        public XdrWriter Logical(bool value) => Int(10).Int(1).Int(value ? 1 : 0);

        /// <summary>A named list; the "names" symbol is written once, then referenced (REFSXP) as R does.</summary>
        public XdrWriter NamedList(params (string Name, Action<XdrWriter> Write)[] items)
        {
            Int(19 | (1 << 9)).Int(items.Length);
            foreach (var (_, write) in items)
                write(this);
            Int(2 | (1 << 10)); // attribute pairlist node with a tag
            if (_namesSymbolWritten)
                Int(255 | (1 << 8)); // reference #1
            else
            {
                Int(1).CharSxp("names");
                _namesSymbolWritten = true;
            }
            Strings(items.Select(i => i.Name).ToArray<string?>());
            return Int(254);
        }
    }

    [Fact]
    public void ReadsCharacterVectorsWithEncodingsAndNa()
    {
        var w = new XdrWriter();
        w.Int(16).Int(4).CharSxp("EMMA").CharSxp("Mrs. Weston’s", levels: 8).CharSxp("café", levels: 4).CharSxp(null);

        var value = RSerialization.Read(w.Bytes, "test");

        Assert.Equal(new string?[] { "EMMA", "Mrs. Weston’s", "café", null }, value!.Items);
        Assert.Null(value.Names);
    }

    [Fact]
    public void ReadsNamedListsWithSymbolReferences()
    {
        var w = new XdrWriter().NamedList(
            ("variables", x => x.NamedList(("emma", y => y.Ints(0, 10)), ("persuasion", y => y.Ints(10, 20)))),
            ("compressed", x => x.Logical(true)));

        var value = RSerialization.Read(w.Bytes, "test")!;

        Assert.Equal(new int[] { 10, 20 }, value.Element("variables")!.Element("persuasion")!.Items);
        Assert.Equal(new int[] { 1 }, value.Element("compressed")!.Items);
    }

    [Fact]
    public void ReadsALazyLoadDatabase()
    {
        string[] lines = ["EMMA", "", "CHAPTER I", "Emma Woodhouse, handsome, clever, and rich"];
        var payload = new XdrWriter().Strings(lines).Bytes;
        using var zlib = new MemoryStream();
        using (var z = new ZLibStream(zlib, CompressionLevel.Optimal, leaveOpen: true))
            z.Write(payload);
        var chunk = new byte[4 + zlib.Length];
        BinaryPrimitives.WriteInt32BigEndian(chunk, payload.Length);
        zlib.ToArray().CopyTo(chunk, 4);
        var rdb = Path.Combine(_folder, "Rdata.rdb");
        File.WriteAllBytes(rdb, [.. new byte[7], .. chunk]); // the chunk need not start at 0

        var index = new XdrWriter().NamedList(
            ("variables", x => x.NamedList(("emma", y => y.Ints(7, chunk.Length)))),
            ("references", x => x.NamedList()),
            ("compressed", x => x.Logical(true))).Bytes;
        var rdx = Path.Combine(_folder, "Rdata.rdx");
        using (var gz = new GZipStream(File.Create(rdx), CompressionLevel.Optimal))
            gz.Write(index);

        var objects = RSerialization.ReadLazyLoadDatabase(rdx, rdb);

        Assert.Equal(["emma"], objects.Keys);
        Assert.Equal(lines, objects["emma"]!.Items);
    }

    [Fact]
    public void TruncatedDataIsAnErrorNamingTheSource()
    {
        var bytes = new XdrWriter().Strings(["one", "two"]).Bytes;
        var ex = Assert.Throws<InvalidDataException>(() => RSerialization.Read(bytes.AsSpan(0, bytes.Length - 2), "Rdata.rdb (emma)"));
        Assert.Contains("Rdata.rdb (emma)", ex.Message);
        Assert.Contains("truncated", ex.Message);
    }

    [Fact]
    public void UnsupportedObjectTypeIsNamed()
    {
        var bytes = new XdrWriter().Int(4).Bytes; // ENVSXP
        var ex = Assert.Throws<InvalidDataException>(() => RSerialization.Read(bytes, "x.rds"));
        Assert.Contains("type 4", ex.Message);
    }

    [Fact]
    public void ChunkOutsideTheFileIsNamed()
    {
        var ex = Assert.Throws<InvalidDataException>(() => RSerialization.ReadChunk(new byte[10], 4, 20, "Rdata.rdb (emma)"));
        Assert.Contains("outside", ex.Message);
    }
}
