namespace LlmFp4.Kit.Models.Loading;

/// <summary>Opens any checkpoint the kit reads, telling the kind from the path.</summary>
public static class CheckpointLoader
{
    /// <summary>
    /// Opens <paramref name="path"/>: a folder in Hugging Face layout, a GGUF file (by its magic, whatever
    /// the extension) or a llama2.c <c>.bin</c> file. Unknown kinds and missing paths throw with the path named.
    /// </summary>
    public static LlamaCheckpoint Open(string path)
    {
        if (Directory.Exists(path)) return HfCheckpoint.Open(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file or folder.", path);
        if (StartsWithGgufMagic(path)) return GgufCheckpoint.Open(path);
        string extension = Path.GetExtension(path).ToLowerInvariant();
        return extension switch
        {
            ".bin" => Llama2cCheckpoint.Open(path),
            ".gguf" => GgufCheckpoint.Open(path),
            ".safetensors" => throw new ArgumentException(
                $"{path}: a .safetensors file has no config; pass the folder that holds it and {HfCheckpoint.ConfigFile}."),
            _ => throw new ArgumentException(
                $"{path}: unknown checkpoint kind; expected a Hugging Face folder, a .gguf file or a llama2.c .bin file."),
        };
    }

    /// <summary>Opens <paramref name="path"/> (see <see cref="Open"/>) and builds the float32 <see cref="LlamaModel"/>.</summary>
    public static LlamaModel LoadModel(string path)
    {
        using var checkpoint = Open(path);
        return new LlamaModel(checkpoint.Config, checkpoint.ReadAllFloat32());
    }

    private static bool StartsWithGgufMagic(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        Span<byte> magic = stackalloc byte[4];
        return stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && BitConverter.ToUInt32(magic) == GgufFile.Magic;
    }
}
