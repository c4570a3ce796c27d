using System.Text.Json;

namespace LlmFp4.Kit.Models.Loading;

/// <summary>
/// Hugging Face folder layout: <c>config.json</c> plus <c>model.safetensors</c>, or shards listed in
/// <c>model.safetensors.index.json</c> (<c>{"weight_map": {tensor: shard file}}</c>). A single
/// <c>model.safetensors</c> wins over an index, as in <c>transformers</c>.
/// </summary>
public static class HfCheckpoint
{
    /// <summary>The model config file in a Hugging Face model folder.</summary>
    public const string ConfigFile = "config.json";
    /// <summary>The single-file weights in a Hugging Face model folder.</summary>
    public const string WeightsFile = "model.safetensors";
    /// <summary>The shard index of sharded safetensors weights (its <c>weight_map</c> names each tensor's shard).</summary>
    public const string IndexFile = "model.safetensors.index.json";

    /// <summary>Opens the Hugging Face model folder <paramref name="folder"/>: its config.json and its safetensors weights, single-file or sharded, memory-mapped (dispose the checkpoint to unmap them).</summary>
    /// <exception cref="FileNotFoundException">No config.json, or neither model.safetensors nor model.safetensors.index.json.</exception>
    /// <exception cref="InvalidDataException">An invalid config or index, a safetensors header the reference reader refuses, a dtype other than F32/F16/BF16, or a missing, misshapen or truncated tensor; the message names the file and tensor.</exception>
    public static LlamaCheckpoint Open(string folder)
    {
        string configPath = Path.Combine(folder, ConfigFile);
        if (!File.Exists(configPath))
            throw new FileNotFoundException($"{folder}: no {ConfigFile} (not a Hugging Face model folder).", configPath);
        var config = LlamaConfig.FromJson(File.ReadAllText(configPath), configPath);

        string single = Path.Combine(folder, WeightsFile), index = Path.Combine(folder, IndexFile);
        Dictionary<string, string>? weightMap = null;
        List<string> shards;
        if (File.Exists(single))
            shards = [WeightsFile];
        else if (File.Exists(index))
        {
            weightMap = ReadWeightMap(index);
            shards = weightMap.Values.Distinct().Order(StringComparer.Ordinal).ToList();
        }
        else
            throw new FileNotFoundException(
                $"{folder}: neither {WeightsFile} nor {IndexFile} found (only safetensors weights are supported).", single);

        var files = new List<MappedFile>();
        try
        {
            foreach (string shard in shards) files.Add(MappedFile.Open(Path.Combine(folder, shard)));
            LlamaTensorLayout.CheckFits(config, files.Sum(f => f.Length), folder);
            var found = new Dictionary<string, CheckpointTensor>();
            foreach (var (shard, file) in shards.Zip(files))
            {
                foreach (var entry in SafeTensorsReader.ReadHeader(file).Entries)
                {
                    // With an index, a tensor counts only in the shard the index names for it.
                    if (weightMap is not null && (!weightMap.TryGetValue(entry.Name, out var owner) || owner != shard)) continue;
                    if (SafeTensorsReader.ToDType(entry.DType) is not { } dtype)
                    {
                        if (IsExpected(config, entry.Name))
                            throw new InvalidDataException($"{file.Path}: tensor {entry.Name} has dtype {entry.DType}; only F32, F16 and BF16 are supported.");
                        continue;
                    }
                    found[entry.Name] = new CheckpointTensor
                    {
                        Name = entry.Name, StoredName = entry.Name, Shape = ToIntShape(file.Path, entry), DType = dtype,
                        File = file.Path, Offset = entry.Begin, Mapped = file,
                    };
                }
            }
            string Where(string name) => weightMap is null
                ? $"not in {Path.Combine(folder, WeightsFile)}"
                : weightMap.TryGetValue(name, out var shard)
                    ? $"{IndexFile} maps it to {shard}, which does not hold it"
                    : $"not in the weight_map of {index}";
            return new LlamaCheckpoint(config, folder, CheckpointFormat.HuggingFace, files, found, Where);
        }
        catch
        {
            foreach (var file in files) file.Dispose();
            throw;
        }
    }

    private static bool IsExpected(LlamaConfig config, string name) =>
        LlamaTensorLayout.Expected(config).Any(e => e.Name == name);

    private static int[] ToIntShape(string path, SafeTensorsEntry entry) =>
        entry.Shape.Select(dim => dim <= int.MaxValue
            ? (int)dim
            : throw new InvalidDataException($"{path}: tensor {entry.Name} dimension {dim} is too large.")).ToArray();

    private static Dictionary<string, string> ReadWeightMap(string index)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(index));
            if (document.RootElement.ValueKind != JsonValueKind.Object ||
                !document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{index}: no 'weight_map' object.");
            var weightMap = new Dictionary<string, string>();
            foreach (var item in map.EnumerateObject())
            {
                string? shard = item.Value.ValueKind == JsonValueKind.String ? item.Value.GetString() : null;
                // A shard must be a plain file name in the same folder.
                if (string.IsNullOrEmpty(shard) || shard != Path.GetFileName(shard) || shard is "." or "..")
                    throw new InvalidDataException($"{index}: tensor {item.Name} maps to '{item.Value}', not a file name in the model folder.");
                weightMap[item.Name] = shard;
            }
            return weightMap;
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{index}: not valid JSON ({ex.Message}).", ex);
        }
    }
}

/// <summary>Saves a model as a Hugging Face folder: <c>config.json</c> and <c>model.safetensors</c>.</summary>
public static class HfCheckpointWriter
{
    /// <summary>
    /// Writes <paramref name="weights"/> (exactly the tensors <see cref="LlamaTensorLayout.Expected"/> lists)
    /// in <paramref name="dtype"/>, with <c>torch_dtype</c> set to match. Each file is written to a temporary
    /// name and renamed; the weights go first, so a config never points at missing weights. Other files
    /// in the folder (a tokenizer) are left alone.
    /// </summary>
    public static void Save(string folder, LlamaConfig config, IReadOnlyDictionary<string, float[]> weights, DType dtype = DType.F32)
    {
        LlamaTensorLayout.CheckWeights(config, weights);
        var tensors = LlamaTensorLayout.Expected(config)
            .Select(e => new TensorToWrite(e.Name, e.Shape, weights[e.Name], dtype));
        SafeTensorsWriter.Write(Path.Combine(folder, HfCheckpoint.WeightsFile), tensors,
            new Dictionary<string, string> { ["format"] = "pt" });
        string json = (config with { TorchDtype = dtype.TorchName() }).ToJson();
        AtomicFile.WriteText(Path.Combine(folder, HfCheckpoint.ConfigFile), writer => writer.Write(json));
    }
}
