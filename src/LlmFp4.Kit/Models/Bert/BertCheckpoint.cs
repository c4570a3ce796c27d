using LlmFp4.Kit.Models.Loading;

namespace LlmFp4.Kit.Models.Bert;

/// <summary>
/// A BERT encoder in a Hugging Face folder: <c>config.json</c> (<see cref="BertConfig"/>) and <c>model.safetensors</c>
/// (F32, F16 or BF16). Tensor names may carry the <c>bert.</c> prefix of task models (BertForMaskedLM, …); the pooler,
/// task heads (<c>cls.</c>, <c>classifier.</c>) and the <c>position_ids</c> buffer are not part of the encoder and are skipped.
/// </summary>
public static class BertCheckpoint
{
    /// <summary>True when <paramref name="path"/> is a folder whose <c>config.json</c> says <c>"model_type": "bert"</c>.</summary>
    public static bool IsBertFolder(string path)
    {
        string configPath = Path.Combine(path, HfCheckpoint.ConfigFile);
        if (!File.Exists(configPath)) return false;
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(File.ReadAllText(configPath));
            return document.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object
                && document.RootElement.TryGetProperty("model_type", out var type) && type.ValueKind == System.Text.Json.JsonValueKind.String
                && type.GetString() == "bert";
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }

    /// <summary>Loads the encoder in <paramref name="folder"/> as float32.</summary>
    /// <exception cref="FileNotFoundException">No config.json or model.safetensors in the folder.</exception>
    /// <exception cref="InvalidDataException">A config field, a tensor's dtype or shape, or a missing or unexpected tensor (named).</exception>
    public static BertModel Load(string folder)
    {
        string configPath = Path.Combine(folder, HfCheckpoint.ConfigFile), weightsPath = Path.Combine(folder, HfCheckpoint.WeightsFile);
        if (!File.Exists(configPath))
            throw new FileNotFoundException($"{folder}: no {HfCheckpoint.ConfigFile} (not a Hugging Face model folder).", configPath);
        var config = BertConfig.FromJson(File.ReadAllText(configPath), configPath);
        if (!File.Exists(weightsPath))
            throw new FileNotFoundException($"{folder}: no {HfCheckpoint.WeightsFile} (only a single safetensors file is read for BERT).", weightsPath);

        var expected = BertModel.WeightShapes(config).ToDictionary(e => e.Name, e => e.Shape);
        var weights = new Dictionary<string, float[]>(StringComparer.Ordinal);
        using var file = MappedFile.Open(weightsPath);
        foreach (var entry in SafeTensorsReader.ReadHeader(file).Entries)
        {
            string name = entry.Name.StartsWith("bert.", StringComparison.Ordinal) ? entry.Name["bert.".Length..] : entry.Name;
            if (!expected.TryGetValue(name, out int[]? shape))
            {
                if (name.StartsWith("pooler.", StringComparison.Ordinal) || name.StartsWith("cls.", StringComparison.Ordinal)
                    || name.StartsWith("classifier.", StringComparison.Ordinal) || name.EndsWith("position_ids", StringComparison.Ordinal))
                    continue;
                throw new InvalidDataException($"{weightsPath}: tensor {entry.Name} is not a parameter of a BERT encoder with this config.");
            }
            if (SafeTensorsReader.ToDType(entry.DType) is not { } dtype)
                throw new InvalidDataException($"{weightsPath}: tensor {entry.Name} has dtype {entry.DType}; only F32, F16 and BF16 are supported.");
            if (!entry.Shape.SequenceEqual(shape.Select(d => (long)d)))
                throw new InvalidDataException($"{weightsPath}: tensor {entry.Name} is [{string.Join(", ", entry.Shape)}], the config implies [{string.Join(", ", shape)}].");
            var values = new float[shape.Aggregate(1, (product, dim) => product * dim)];
            DTypes.ToFloat32(file.Bytes(entry.Begin, checked((int)(entry.End - entry.Begin))), dtype, values);
            weights[name] = values;
        }
        var missing = expected.Keys.Where(name => !weights.ContainsKey(name)).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"{weightsPath}: missing {string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? $" and {missing.Count - 5} more" : "")}.");
        return new BertModel(config, weights);
    }

    /// <summary>
    /// Writes <paramref name="config"/> and <paramref name="tensors"/> (the encoder's parameters, optionally the pooler's) as
    /// <c>config.json</c> and a float32 <c>model.safetensors</c> into <paramref name="folder"/>, each through a temporary file.
    /// </summary>
    public static void Save(string folder, BertConfig config, IReadOnlyDictionary<string, float[]> tensors)
    {
        var expected = BertModel.WeightShapes(config).ToDictionary(e => e.Name, e => e.Shape);
        int hidden = config.HiddenSize;
        expected["pooler.dense.weight"] = [hidden, hidden];
        expected["pooler.dense.bias"] = [hidden];
        foreach (string name in tensors.Keys)
            if (!expected.ContainsKey(name)) throw new ArgumentException($"{name}: not a parameter of a BERT encoder.");
        SafeTensorsWriter.Write(Path.Combine(folder, HfCheckpoint.WeightsFile),
            tensors.Select(t => new TensorToWrite(t.Key, expected[t.Key], t.Value, DType.F32)), new Dictionary<string, string> { ["format"] = "pt" });
        AtomicFile.WriteText(Path.Combine(folder, HfCheckpoint.ConfigFile), writer => writer.Write(config.ToJson() + "\n"));
    }
}
