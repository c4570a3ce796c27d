using System.Text;
using LlmFp4.Kit.Models.Loading;

namespace LlmFp4.Kit.Training;

/// <summary>
/// Everything needed to continue a run exactly: the config, the number of finished updates, the wall time and
/// tokens so far, the weights and both AdamW moments. The batch of each step follows from the step number
/// (<see cref="WindowSampler"/>), so no generator state is stored.
/// </summary>
/// <remarks>
/// File layout (little-endian): 8 bytes magic <c>LF4TRAIN</c>, int32 version (1), int32 step, double elapsed seconds,
/// int64 tokens seen, int32 byte length + UTF-8 JSON of the <see cref="TrainingConfig"/>, int32 parameter count n,
/// then n float32 weights (in <see cref="LlamaParameters"/> order), n float32 first moments, n float32 second moments.
/// Written to a temporary file and renamed.
/// </remarks>
public sealed record TrainingCheckpoint(TrainingConfig Config, int Step, double ElapsedSeconds, long TokensSeen,
    float[] Parameters, float[] FirstMoment, float[] SecondMoment)
{
    private static readonly byte[] Magic = "LF4TRAIN"u8.ToArray();
    private const int Version = 1;

    public void Save(string path)
    {
        if (FirstMoment.Length != Parameters.Length || SecondMoment.Length != Parameters.Length)
            throw new ArgumentException($"{path}: weights and moments differ in length.");
        AtomicFile.Write(path, stream =>
        {
            using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
            writer.Write(Magic);
            writer.Write(Version);
            writer.Write(Step);
            writer.Write(ElapsedSeconds);
            writer.Write(TokensSeen);
            byte[] json = Encoding.UTF8.GetBytes(Config.ToJson());
            writer.Write(json.Length);
            writer.Write(json);
            writer.Write(Parameters.Length);
            foreach (var array in new[] { Parameters, FirstMoment, SecondMoment })
                writer.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(array.AsSpan()));
        });
    }

    public static TrainingCheckpoint Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"training checkpoint '{path}' not found.", path);
        using var reader = new BinaryReader(File.OpenRead(path));
        try
        {
            if (!reader.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic))
                throw new InvalidDataException($"{path}: not a training checkpoint (bad magic).");
            int version = reader.ReadInt32();
            if (version != Version) throw new InvalidDataException($"{path}: checkpoint version {version} is not supported (expected {Version}).");
            int step = reader.ReadInt32();
            double elapsed = reader.ReadDouble();
            long tokens = reader.ReadInt64();
            int jsonLength = reader.ReadInt32();
            if (jsonLength <= 0 || jsonLength > reader.BaseStream.Length)
                throw new InvalidDataException($"{path}: corrupt config length {jsonLength}.");
            var config = TrainingConfig.FromJson(Encoding.UTF8.GetString(reader.ReadBytes(jsonLength)), path);
            int count = reader.ReadInt32();
            int expected = new LlamaParameters(config.Model).Count;
            if (count != expected) throw new InvalidDataException($"{path}: holds {count} parameters, its model config needs {expected}.");
            if (reader.BaseStream.Length - reader.BaseStream.Position != 12L * count)
                throw new InvalidDataException($"{path}: truncated or oversized ({reader.BaseStream.Length} bytes).");
            float[] Read()
            {
                var values = new float[count];
                reader.BaseStream.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
                return values;
            }
            return new TrainingCheckpoint(config, step, elapsed, tokens, Read(), Read(), Read());
        }
        catch (EndOfStreamException ex)
        {
            throw new InvalidDataException($"{path}: truncated training checkpoint.", ex);
        }
    }
}
