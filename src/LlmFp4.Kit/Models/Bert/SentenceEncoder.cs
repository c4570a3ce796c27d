using LlmFp4.Kit.Models.Tokenizers;

namespace LlmFp4.Kit.Models.Bert;

/// <summary>
/// A sentence-embedding model as sentence-transformers runs it: WordPiece tokenization to <c>[CLS] … [SEP]</c> cut at
/// <see cref="MaxLength"/> tokens, the BERT encoder, then <see cref="Pooling"/> (mean or CLS, L2-normalised).
/// Texts are encoded in batches of at most <see cref="MaxBatchTokens"/> tokens, each text attending only to itself.
/// Not thread-safe (the encoder reuses its buffers).
/// </summary>
public sealed class SentenceEncoder
{
    private int _maxBatchTokens = 8192;

    /// <summary>A sentence encoder from its parts; texts are cut at max_seq_length, else the tokenizer's truncation, within the model's positions.</summary>
    /// <exception cref="ArgumentNullException">A part is null.</exception>
    /// <exception cref="ArgumentException">The tokenizer has more tokens than the model's vocabulary.</exception>
    public SentenceEncoder(BertModel model, WordPieceTokenizer tokenizer, SentencePooling pooling)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        Tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
        Pooling = pooling ?? throw new ArgumentNullException(nameof(pooling));
        if (tokenizer.VocabSize > model.VocabSize)
            throw new ArgumentException($"The tokenizer has {tokenizer.VocabSize} tokens but the model's vocabulary only {model.VocabSize}.");
        MaxLength = Math.Min(pooling.MaxSeqLength ?? tokenizer.MaxLength ?? model.ContextLength, model.ContextLength);
    }

    /// <summary>
    /// Loads a Hugging Face / sentence-transformers folder: <c>config.json</c> and <c>model.safetensors</c>
    /// (<see cref="BertCheckpoint"/>), <c>tokenizer.json</c> (WordPiece) and the pooling files (<see cref="SentencePooling.Read"/>).
    /// </summary>
    public static SentenceEncoder Load(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{folder}: no such model folder.");
        return new SentenceEncoder(BertCheckpoint.Load(folder), WordPieceTokenizer.Load(Path.Combine(folder, "tokenizer.json")), SentencePooling.Read(folder));
    }

    /// <summary>The BERT encoder.</summary>
    public BertModel Model { get; }
    /// <summary>The WordPiece tokenizer that frames each text as [CLS] … [SEP].</summary>
    public WordPieceTokenizer Tokenizer { get; }
    /// <summary>How token states become one vector: mean or CLS, L2-normalised or not.</summary>
    public SentencePooling Pooling { get; }

    /// <summary>Tokens per text the encoder reads, [CLS] and [SEP] included: max_seq_length, else the tokenizer's truncation, within the model's positions.</summary>
    public int MaxLength { get; }

    /// <summary>Length of every embedding: the model's hidden size.</summary>
    public int Dimension => Model.HiddenSize;

    /// <summary>Largest number of tokens run in one forward pass (texts are grouped up to it; a longer single text still runs alone).</summary>
    public int MaxBatchTokens
    {
        get => _maxBatchTokens;
        set => _maxBatchTokens = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(MaxBatchTokens), "MaxBatchTokens must be positive.");
    }

    /// <summary>The token ids the encoder reads for <paramref name="text"/>: <c>[CLS] ids [SEP]</c>, cut at <see cref="MaxLength"/>.</summary>
    public int[] Tokenize(string text) => Tokenizer.EncodeForModel(text, MaxLength);

    /// <summary>One embedding per text ([<see cref="Dimension"/>] each), in order; <paramref name="progress"/> gets the number of texts done.</summary>
    public float[][] Encode(IReadOnlyList<string> texts, IProgress<int>? progress = null) =>
        EncodeTokens(texts.Select(Tokenize).ToArray(), progress);

    /// <summary>One embedding per already tokenized sequence (each as <see cref="Tokenize"/> makes them), in order.</summary>
    public float[][] EncodeTokens(IReadOnlyList<int[]> sequences, IProgress<int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        var embeddings = new float[sequences.Count][];
        int hidden = Model.HiddenSize;
        float[] states = [];
        for (int start = 0; start < sequences.Count;)
        {
            int end = start, tokens = 0;
            while (end < sequences.Count && (end == start || tokens + sequences[end].Length <= MaxBatchTokens))
                tokens += sequences[end++].Length;
            var batch = sequences.Skip(start).Take(end - start).ToArray();
            if (states.Length < tokens * hidden) states = new float[tokens * hidden];
            Model.Forward(batch, states);
            int row = 0;
            for (int s = 0; s < batch.Length; s++)
            {
                embeddings[start + s] = new float[hidden];
                Pooling.Pool(states.AsSpan(row * hidden), batch[s].Length, embeddings[start + s]);
                row += batch[s].Length;
            }
            start = end;
            progress?.Report(start);
        }
        return embeddings;
    }
}
