using System.Security.Cryptography;
using LlmFp4.Kit.Models.Loading;
using LlmFp4.Kit.Models.Tokenizers;

namespace LlmFp4.Kit.Training;

/// <summary>The tokenized training and validation splits.</summary>
public sealed record TrainingData(int[] Train, int[] Validation)
{
    /// <summary>
    /// Tokenizes the splits named in <paramref name="config"/> with <paramref name="tokenizer"/> (read from
    /// <see cref="TrainingConfig.Tokenizer"/>), or reads them from the cache folder, where each split is stored as
    /// little-endian uint16 ids under a name that carries the SHA-256 of the text and of the tokenizer file, so a
    /// changed corpus or tokenizer is never served stale ids.
    /// </summary>
    public static TrainingData Load(TrainingConfig config, ITokenizer tokenizer, Action<string>? log = null) =>
        new(Tokenize(config.TrainText, config, tokenizer, log), Tokenize(config.ValidationText, config, tokenizer, log));

    /// <summary>Token ids of one text file, through the cache described at <see cref="Load"/>.</summary>
    public static int[] Tokenize(string textPath, TrainingConfig config, ITokenizer tokenizer, Action<string>? log = null)
    {
        if (!File.Exists(textPath)) throw new FileNotFoundException($"training data: text file '{textPath}' not found.", textPath);
        if (!File.Exists(config.Tokenizer)) throw new FileNotFoundException($"training data: tokenizer '{config.Tokenizer}' not found.", config.Tokenizer);
        if (tokenizer.VocabSize > ushort.MaxValue + 1)
            throw new ArgumentException($"training data: the token cache stores uint16 ids, but the tokenizer has {tokenizer.VocabSize} tokens.");
        string key = Convert.ToHexString(SHA256.HashData([.. Sha256(textPath), .. Sha256(config.Tokenizer)]))[..16].ToLowerInvariant();
        string cache = Path.Combine(config.CacheDirectory, $"{Path.GetFileNameWithoutExtension(textPath)}-{key}.u16");
        if (File.Exists(cache))
        {
            byte[] bytes = File.ReadAllBytes(cache);
            var ids = new int[bytes.Length / 2];
            for (int i = 0; i < ids.Length; i++) ids[i] = BitConverter.ToUInt16(bytes, 2 * i);
            return ids;
        }
        log?.Invoke($"tokenizing {textPath} …");
        int[] tokens = tokenizer.Encode(File.ReadAllText(textPath));
        AtomicFile.Write(cache, stream =>
        {
            var bytes = new byte[tokens.Length * 2];
            for (int i = 0; i < tokens.Length; i++) BitConverter.TryWriteBytes(bytes.AsSpan(2 * i), checked((ushort)tokens[i]));
            stream.Write(bytes);
        });
        log?.Invoke($"{textPath}: {tokens.Length:N0} tokens (cached in {cache})");
        return tokens;
    }

    private static byte[] Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return SHA256.HashData(stream);
    }
}

/// <summary>
/// Random windows of a token stream, chosen by a counter-based hash of (seed, step, index) rather than a stateful
/// generator, so any step's batch can be rebuilt from the step number alone (which makes resuming exact).
/// </summary>
public sealed class WindowSampler
{
    private readonly int[] _tokens;
    private readonly int _windowLength;
    private readonly ulong _seed;

    public WindowSampler(int[] tokens, int windowLength, int seed)
    {
        if (windowLength <= 0 || tokens.Length < windowLength)
            throw new ArgumentException($"window sampler: {tokens.Length} tokens cannot hold one window of {windowLength}.");
        _tokens = tokens;
        _windowLength = windowLength;
        _seed = (ulong)(uint)seed;
    }

    /// <summary>Start offset of window <paramref name="index"/> of update <paramref name="step"/>.</summary>
    public int Start(int step, int index)
    {
        ulong hash = SplitMix64(SplitMix64(SplitMix64(_seed) ^ (ulong)(uint)step) ^ (ulong)(uint)index);
        return (int)(hash % (ulong)(_tokens.Length - _windowLength + 1));
    }

    /// <summary>Copies windows <paramref name="firstIndex"/>.. of <paramref name="step"/> back to back into <paramref name="destination"/>.</summary>
    public void Fill(int step, int firstIndex, Span<int> destination)
    {
        if (destination.Length % _windowLength != 0)
            throw new ArgumentException($"window sampler: destination length {destination.Length} is not a multiple of the window {_windowLength}.");
        for (int w = 0; w < destination.Length / _windowLength; w++)
            _tokens.AsSpan(Start(step, firstIndex + w), _windowLength).CopyTo(destination.Slice(w * _windowLength, _windowLength));
    }

    private static ulong SplitMix64(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}
