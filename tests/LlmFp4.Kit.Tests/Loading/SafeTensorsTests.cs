using System.Text;
using LlmFp4.Kit.Models.Loading;
using static LlmFp4.Kit.Tests.Loading.TinyCheckpoints;

namespace LlmFp4.Kit.Tests.Loading;

public class SafeTensorsTests
{
    /// <summary>A safetensors file from a hand-written header and data, as another writer might produce it.</summary>
    private static string Raw(TempFolder temp, string header, int dataBytes, ulong? claimedHeaderLength = null)
    {
        string path = temp.File("raw.safetensors");
        var json = Encoding.UTF8.GetBytes(header);
        using var stream = File.Create(path);
        stream.Write(BitConverter.GetBytes(claimedHeaderLength ?? (ulong)json.Length));
        stream.Write(json);
        stream.Write(new byte[dataBytes]);
        return path;
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    public void WriterOutputReadsBackWithSortedNamesAndAlignedData(DType dtype)
    {
        using var temp = new TempFolder();
        string path = temp.File("t.safetensors");
        float[] a = [1.5f, -2.25f, 3.125f], b = [0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f];
        SafeTensorsWriter.Write(path,
            [new TensorToWrite("zeta", [3], a, dtype), new TensorToWrite("alpha", [2, 3], b, DType.F32)],
            new Dictionary<string, string> { ["format"] = "pt" });

        var header = SafeTensorsReader.ReadHeader(path);
        Assert.Equal(0, header.DataStart % 8);
        Assert.Equal("pt", header.Metadata["format"]);
        // Wider elements first, then by name: F32 "alpha" always precedes a 2-byte "zeta".
        Assert.Equal(["alpha", "zeta"], header.Entries.OrderBy(e => e.Begin).Select(e => e.Name));
        var zeta = header.Entries.Single(e => e.Name == "zeta");
        Assert.Equal(dtype.ToString(), zeta.DType);
        Assert.Equal([3L], zeta.Shape);
        var bytes = File.ReadAllBytes(path).AsSpan((int)zeta.Begin, (int)(zeta.End - zeta.Begin));
        var values = new float[3];
        DTypes.ToFloat32(bytes, dtype, values);
        Assert.Equal(Rounded(a, dtype), values);
    }

    [Fact]
    public void NoTemporaryFileIsLeftBehind()
    {
        using var temp = new TempFolder();
        SafeTensorsWriter.Write(temp.File("t.safetensors"), [new TensorToWrite("x", [1], new float[] { 1 }, DType.F32)]);
        Assert.Equal(["t.safetensors"], Directory.GetFiles(temp.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void HeaderLengthBeyondFileIsRejected()
    {
        using var temp = new TempFolder();
        string path = Raw(temp, "{}", 0, claimedHeaderLength: 4096);
        AssertInvalid(() => SafeTensorsReader.ReadHeader(path), path, "header length 4096", "truncated");
    }

    [Fact]
    public void AbsurdHeaderLengthIsRejected()
    {
        using var temp = new TempFolder();
        string path = Raw(temp, "{}", 0, claimedHeaderLength: ulong.MaxValue);
        AssertInvalid(() => SafeTensorsReader.ReadHeader(path), path, "exceeds");
    }

    [Theory]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [1], ")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}}")]
    public void BadJsonIsRejected(string header)
    {
        using var temp = new TempFolder();
        string path = Raw(temp, header, 4);
        AssertInvalid(() => SafeTensorsReader.ReadHeader(path), path, "not valid JSON");
    }

    [Fact]
    public void HeaderMustBeAnObject()
    {
        using var temp = new TempFolder();
        string path = Raw(temp, "[1, 2]", 0);
        AssertInvalid(() => SafeTensorsReader.ReadHeader(path), path, "'{'");
    }

    [Fact]
    public void OverlappingOffsetsAreRejected()
    {
        using var temp = new TempFolder();
        string path = Raw(temp,
            "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, " +
            "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12);
        AssertInvalid(() => SafeTensorsReader.ReadHeader(path), path, "tensor b", "overlaps tensor a");
    }

    [Fact]
    public void GapsAndTrailingBytesAreRejected()
    {
        using var temp = new TempFolder();
        string gap = Raw(temp, "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8);
        AssertInvalid(() => SafeTensorsReader.ReadHeader(gap), gap, "before tensor a");
        string trailing = Raw(temp, "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 8);
        AssertInvalid(() => SafeTensorsReader.ReadHeader(trailing), trailing, "after the last tensor");
    }

    [Fact]
    public void DtypeShapeMismatchIsRejected()
    {
        using var temp = new TempFolder();
        string path = Raw(temp, "{\"w\": {\"dtype\": \"F16\", \"shape\": [2, 3], \"data_offsets\": [0, 24]}}", 24);
        AssertInvalid(() => SafeTensorsReader.ReadHeader(path), path, "tensor w", "F16", "[2, 3]", "needs 12 bytes", "span 24");
    }

    [Fact]
    public void TruncatedDataIsRejected()
    {
        using var temp = new TempFolder();
        string path = Raw(temp, "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 10);
        AssertInvalid(() => SafeTensorsReader.ReadHeader(path), path, "tensor w", "only 10 data bytes", "truncated");
    }

    [Theory]
    [InlineData("{\"w\": {\"dtype\": \"Q4\", \"shape\": [1], \"data_offsets\": [0, 1]}}", "unknown dtype 'Q4'")]
    [InlineData("{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", "non-negative integers")]
    [InlineData("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4]}}", "2 entries")]
    [InlineData("{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", "missing array 'shape'")]
    [InlineData("{\"w\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904, 4], \"data_offsets\": [0, 4]}}", "too large")]
    [InlineData("{\"__metadata__\": {\"n\": 1}, \"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", "not a string")]
    public void MalformedEntriesAreRejected(string header, string fragment)
    {
        using var temp = new TempFolder();
        string path = Raw(temp, header, 4);
        AssertInvalid(() => SafeTensorsReader.ReadHeader(path), path, fragment);
    }

    /// <summary>The reference reader takes __metadata__ as an optional map: null is no metadata, as when the key is absent.</summary>
    [Theory]
    [InlineData("{\"__metadata__\": null, \"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}")]
    [InlineData("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}")]
    public void NullMetadataIsNoMetadata(string header)
    {
        using var temp = new TempFolder();
        string path = Raw(temp, header, 4);
        var read = SafeTensorsReader.ReadHeader(path);
        Assert.Empty(read.Metadata);
        var w = Assert.Single(read.Entries);
        Assert.Equal(("w", "F32", 4L), (w.Name, w.DType, w.End - w.Begin));
    }

    [Fact]
    public void TinyFilesAreRejected()
    {
        using var temp = new TempFolder();
        string path = temp.File("tiny.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        AssertInvalid(() => SafeTensorsReader.ReadHeader(path), path, "too short");
        File.WriteAllBytes(path, []);
        AssertInvalid(() => SafeTensorsReader.ReadHeader(path), path, "empty");
    }
}
