using System.Buffers;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace LlmFp4.Kit.Models.Bert;

/// <summary>
/// A BERT encoder in float32 (Hugging Face <c>BertModel</c> semantics without the pooler): token, absolute position
/// and token-type embeddings summed and layer-normed, then post-LayerNorm blocks (<see cref="BertLayer"/>) with
/// bidirectional multi-head attention and an erf GELU feed-forward. Its output is the last hidden state of every token.
/// Every linear layer carries an input quantization point and can be observed, and the attention matmuls carry
/// optional points, as in <see cref="LlamaModel"/>. Not thread-safe: one forward at a time per model (activation
/// buffers are reused across calls).
/// </summary>
/// <remarks>
/// A batch is a list of sequences of different lengths, each attending only to its own tokens: the same result as
/// Hugging Face's padded batch with an attention mask, for the real tokens, without computing the padding.
/// </remarks>
public sealed partial class BertModel : IQuantizableModel
{
    /// <summary>Hugging Face name of the word embedding, [vocab × hidden].</summary>
    public const string WordEmbeddingsName = "embeddings.word_embeddings.weight";
    /// <summary>Hugging Face name of the position embedding, [max_position_embeddings × hidden].</summary>
    public const string PositionEmbeddingsName = "embeddings.position_embeddings.weight";
    /// <summary>Hugging Face name of the token-type (segment) embedding, [type_vocab_size × hidden].</summary>
    public const string TokenTypeEmbeddingsName = "embeddings.token_type_embeddings.weight";
    /// <summary>Hugging Face name of the embedding LayerNorm gain γ, [hidden].</summary>
    public const string EmbeddingNormWeightName = "embeddings.LayerNorm.weight";
    /// <summary>Hugging Face name of the embedding LayerNorm shift β, [hidden].</summary>
    public const string EmbeddingNormBiasName = "embeddings.LayerNorm.bias";

    private float[] _hidden = [], _query = [], _key = [], _value = [], _context = [], _projection = [], _intermediate = [], _quantizerInput = [];
    private int _tokenCapacity;

    /// <summary>
    /// Builds the model from Hugging Face–named float32 tensors with HF shapes (row-major; Linear weights [out, in]),
    /// exactly those <see cref="WeightShapes"/> lists, and optionally <see cref="ResidualOrderName"/> (a reordered model's
    /// channel order). The arrays are kept, not copied. A missing, mis-sized or unexpected tensor throws an
    /// <see cref="ArgumentException"/> naming it.
    /// </summary>
    public BertModel(BertConfig config, IReadOnlyDictionary<string, float[]> weights)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        config.Validate();
        var expected = WeightShapes(config).ToDictionary(entry => entry.Name, entry => entry.Shape);
        foreach (string name in weights.Keys)
            if (!expected.ContainsKey(name) && name != ResidualOrderName)
                throw new ArgumentException($"{name}: unexpected tensor for a BERT encoder (no such parameter in {nameof(BertModel)}).");
        float[] Take(string name, int[] shape)
        {
            if (!weights.TryGetValue(name, out float[]? data))
                throw new ArgumentException($"{name}: missing (expected shape {Tensor.FormatShape(shape)}).");
            long count = shape.Aggregate(1L, (product, dim) => product * dim);
            if (data.Length != count)
                throw new ArgumentException($"{name}: expected shape {Tensor.FormatShape(shape)} ({count} values), got {data.Length} values.");
            return data;
        }
        NamedTensor Dense(string name) => new(name, expected[name], Take(name, expected[name]));

        Config = config;
        WordEmbeddings = Dense(WordEmbeddingsName);
        PositionEmbeddings = Dense(PositionEmbeddingsName);
        TokenTypeEmbeddings = Dense(TokenTypeEmbeddingsName);
        EmbeddingNormWeight = Dense(EmbeddingNormWeightName);
        EmbeddingNormBias = Dense(EmbeddingNormBiasName);
        Layers = Enumerable.Range(0, config.NumHiddenLayers).Select(i => new BertLayer(i, config, Take,
            (module, inFeatures, outFeatures) => new LinearLayer(module, inFeatures, outFeatures, Take(module + ".weight", [outFeatures, inFeatures]))
            {
                Bias = Take(module + ".bias", [outFeatures]),
            })).ToArray();
        Linears = [.. Layers.SelectMany(layer => layer.Linears)];
        AttentionMatMulPoints = [.. Layers.SelectMany(layer => layer.AttentionMatMulPoints)];
        if (weights.TryGetValue(ResidualOrderName, out float[]? order))
            _residualOrder = ReadResidualOrder(order);
    }

    /// <summary>
    /// Every parameter of an encoder with this config, by HF name with its HF shape, in the order of the HF module tree
    /// (embeddings; per layer query, key, value, attention output and its LayerNorm, intermediate, output and its LayerNorm).
    /// </summary>
    public static IReadOnlyList<(string Name, int[] Shape)> WeightShapes(BertConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        int hidden = config.HiddenSize, inner = config.IntermediateSize;
        var shapes = new List<(string, int[])>
        {
            (WordEmbeddingsName, [config.VocabSize, hidden]),
            (PositionEmbeddingsName, [config.MaxPositionEmbeddings, hidden]),
            (TokenTypeEmbeddingsName, [config.TypeVocabSize, hidden]),
            (EmbeddingNormWeightName, [hidden]),
            (EmbeddingNormBiasName, [hidden]),
        };
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            string p = $"encoder.layer.{i}.";
            void Linear(string module, int inFeatures, int outFeatures)
            {
                shapes.Add((p + module + ".weight", [outFeatures, inFeatures]));
                shapes.Add((p + module + ".bias", [outFeatures]));
            }
            void Norm(string module)
            {
                shapes.Add((p + module + ".weight", [hidden]));
                shapes.Add((p + module + ".bias", [hidden]));
            }
            Linear("attention.self.query", hidden, hidden);
            Linear("attention.self.key", hidden, hidden);
            Linear("attention.self.value", hidden, hidden);
            Linear("attention.output.dense", hidden, hidden);
            Norm("attention.output.LayerNorm");
            Linear("intermediate.dense", hidden, inner);
            Linear("output.dense", inner, hidden);
            Norm("output.LayerNorm");
        }
        return shapes;
    }

    /// <summary>
    /// A model with weights and biases drawn from N(0, std²) by a seeded <see cref="Random"/> (Box–Muller, in
    /// <see cref="WeightShapes"/> order) and LayerNorm weights of 1. Same config and seed → same weights.
    /// </summary>
    public static BertModel CreateRandom(BertConfig config, int seed, float std = 0.02f)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        return new BertModel(config, RandomWeights.Create(WeightShapes(config), seed, std, name => name.EndsWith("LayerNorm.weight", StringComparison.Ordinal)));
    }

    /// <summary>The Hugging Face config the model was built from.</summary>
    public BertConfig Config { get; }
    /// <summary>Rows of the word embedding (vocab_size).</summary>
    public int VocabSize => Config.VocabSize;
    /// <summary>Width of every hidden state (hidden_size).</summary>
    public int HiddenSize => Config.HiddenSize;
    /// <summary>Longest sequence the position embeddings cover (<c>max_position_embeddings</c>).</summary>
    public int ContextLength => Config.MaxPositionEmbeddings;

    /// <summary>The token embedding table [vocab × hidden]; replace <see cref="NamedTensor.Data"/> to quantize it.</summary>
    public NamedTensor WordEmbeddings { get; }
    /// <summary><c>embeddings.position_embeddings.weight</c>, [max_position_embeddings × hidden], added for position p.</summary>
    public NamedTensor PositionEmbeddings { get; }
    /// <summary><c>embeddings.token_type_embeddings.weight</c>, [type_vocab_size × hidden], added for segment t (0 when not given).</summary>
    public NamedTensor TokenTypeEmbeddings { get; }
    /// <summary><c>embeddings.LayerNorm.weight</c>, γ of the LayerNorm over the summed embeddings, [hidden].</summary>
    public NamedTensor EmbeddingNormWeight { get; }
    /// <summary><c>embeddings.LayerNorm.bias</c>, β of the LayerNorm over the summed embeddings, [hidden].</summary>
    public NamedTensor EmbeddingNormBias { get; }
    /// <summary>The encoder layers, <c>encoder.layer.{i}</c>, in order.</summary>
    public IReadOnlyList<BertLayer> Layers { get; }

    /// <summary>Every linear layer in execution order: per layer query, key, value, attention output, intermediate, output.</summary>
    public IReadOnlyList<LinearLayer> Linears { get; }

    /// <summary>The optional attention-matmul points of all layers (q, k, probs, v per layer); all off by default.</summary>
    public IReadOnlyList<QuantizationPoint> AttentionMatMulPoints { get; }

    /// <summary>Sees every linear layer's input and output during forward passes; null = off.</summary>
    public ILinearObserver? Observer { get; set; }

    /// <summary>
    /// The current parameters under their HF names with HF shapes, wrapping the live arrays (no copy), in
    /// <see cref="WeightShapes"/> order; then <see cref="ResidualOrderName"/> (a fresh array) when the model was reordered.
    /// </summary>
    public IEnumerable<(string Name, Tensor Tensor)> NamedWeights()
    {
        foreach (var tensor in new[] { WordEmbeddings, PositionEmbeddings, TokenTypeEmbeddings, EmbeddingNormWeight, EmbeddingNormBias })
            yield return (tensor.Name, tensor.AsTensor());
        foreach (var layer in Layers)
        {
            foreach (var linear in new[] { layer.Query, layer.Key, layer.Value, layer.AttentionOutput })
                foreach (var entry in Linear(linear)) yield return entry;
            yield return (layer.AttentionNormWeight.Name, layer.AttentionNormWeight.AsTensor());
            yield return (layer.AttentionNormBias.Name, layer.AttentionNormBias.AsTensor());
            foreach (var linear in new[] { layer.Intermediate, layer.Output })
                foreach (var entry in Linear(linear)) yield return entry;
            yield return (layer.OutputNormWeight.Name, layer.OutputNormWeight.AsTensor());
            yield return (layer.OutputNormBias.Name, layer.OutputNormBias.AsTensor());
        }
        if (_residualOrder is { } order)
            yield return (ResidualOrderName, new Tensor([.. order.Select(j => (float)j)], order.Length));

        static IEnumerable<(string, Tensor)> Linear(LinearLayer linear) =>
        [
            (linear.WeightName, new Tensor(linear.Weight, linear.OutFeatures, linear.InFeatures)),
            (linear.BiasName, new Tensor(linear.Bias!, linear.OutFeatures)),
        ];
    }

    /// <summary>A deep copy of the weights; quantizers and observer are not copied.</summary>
    public BertModel Clone() =>
        new(Config, NamedWeights().ToDictionary(entry => entry.Name, entry => (float[])entry.Tensor.Data.Clone()));

    /// <summary>
    /// Runs the batch and writes the last hidden state of every token of every sequence, sequence after sequence,
    /// into <paramref name="hiddenStates"/> ([Σ lengths × hidden], row-major). Each sequence is positioned from 0 and
    /// attends to all of its own tokens and to nothing else. <paramref name="tokenTypes"/> (segment ids, one array per
    /// sequence of the same length) defaults to all zeros, as for a single sentence.
    /// </summary>
    /// <exception cref="ArgumentException">A sequence longer than <see cref="ContextLength"/>, an id outside the
    /// vocabulary or the token types, mismatched lengths, or a destination too small.</exception>
    public void Forward(IReadOnlyList<int[]> sequences, Span<float> hiddenStates, IReadOnlyList<int[]>? tokenTypes = null)
    {
        int tokens = CheckSequences(sequences, tokenTypes);
        int hidden = HiddenSize;
        if (hiddenStates.Length < (long)tokens * hidden)
            throw new ArgumentException($"Forward: hiddenStates has {hiddenStates.Length} elements, needs {(long)tokens * hidden} ({tokens} tokens × hidden {hidden}).");
        if (tokens == 0) return;
        RunLayers(sequences, tokenTypes, tokens);
        ReadHiddenStates(_hidden.AsSpan(0, tokens * hidden), hiddenStates);
    }

    /// <summary>The encoder over a checked, non-empty batch of <paramref name="tokens"/> tokens; the last hidden state is left in <c>_hidden</c>, in the residual order.</summary>
    private void RunLayers(IReadOnlyList<int[]> sequences, IReadOnlyList<int[]>? tokenTypes, int tokens)
    {
        EnsureTokens(tokens);
        Embed(sequences, tokenTypes, tokens);
        foreach (var layer in Layers) RunBlock(layer, sequences, tokens);
    }

    /// <summary>The summed, layer-normed embeddings of the batch into <c>_hidden</c>, the residual stream.</summary>
    private void Embed(IReadOnlyList<int[]> sequences, IReadOnlyList<int[]>? tokenTypes, int tokens)
    {
        int hidden = HiddenSize;
        Span<float> x = _hidden.AsSpan(0, tokens * hidden);
        int row = 0;
        for (int s = 0; s < sequences.Count; s++)
            for (int position = 0; position < sequences[s].Length; position++, row++)
            {
                Span<float> destination = x.Slice(row * hidden, hidden);
                int type = tokenTypes?[s][position] ?? 0;
                TensorPrimitives.Add(WordEmbeddings.Data.AsSpan(sequences[s][position] * hidden, hidden),
                    TokenTypeEmbeddings.Data.AsSpan(type * hidden, hidden), destination);
                TensorPrimitives.Add(destination, PositionEmbeddings.Data.AsSpan(position * hidden, hidden), destination);
            }
        LayerNorm.Forward(x, EmbeddingNormWeight.Data, EmbeddingNormBias.Data, (float)Config.LayerNormEps, x);
    }

    /// <summary>One encoder block over the batch, updating the residual stream in <c>_hidden</c> in place (the only state a block passes on).</summary>
    private void RunBlock(BertLayer layer, IReadOnlyList<int[]> sequences, int tokens)
    {
        int hidden = HiddenSize;
        float eps = (float)Config.LayerNormEps;
        Span<float> x = _hidden.AsSpan(0, tokens * hidden);
        Span<float> projection = _projection.AsSpan(0, tokens * hidden);
        layer.Query.Forward(x, _query, tokens, _quantizerInput, Observer);
        layer.Key.Forward(x, _key, tokens, _quantizerInput, Observer);
        layer.Value.Forward(x, _value, tokens, _quantizerInput, Observer);
        Quantize(layer.QueryMatMul, _query, tokens, hidden);
        Quantize(layer.KeyMatMul, _key, tokens, hidden);
        Quantize(layer.ValueMatMul, _value, tokens, hidden);
        SelfAttention(sequences, layer.ProbsMatMul.Quantizer);
        layer.AttentionOutput.Forward(_context, projection, tokens, _quantizerInput, Observer);
        TensorPrimitives.Add(x, projection, x);
        LayerNorm.Forward(x, layer.AttentionNormWeight.Data, layer.AttentionNormBias.Data, eps, x);

        Span<float> intermediate = _intermediate.AsSpan(0, tokens * Config.IntermediateSize);
        layer.Intermediate.Forward(x, intermediate, tokens, _quantizerInput, Observer);
        Gelu.Forward(intermediate, intermediate);
        layer.Output.Forward(intermediate, projection, tokens, _quantizerInput, Observer);
        TensorPrimitives.Add(x, projection, x);
        LayerNorm.Forward(x, layer.OutputNormWeight.Data, layer.OutputNormBias.Data, eps, x);
    }

    /// <summary>Last hidden states per sequence, each a fresh [length × hidden] array. Convenience over <see cref="Forward"/>.</summary>
    public float[][] HiddenStates(IReadOnlyList<int[]> sequences)
    {
        int tokens = CheckSequences(sequences, null);
        var all = new float[(long)tokens * HiddenSize];
        Forward(sequences, all);
        var result = new float[sequences.Count][];
        int row = 0;
        for (int s = 0; s < sequences.Count; s++)
        {
            result[s] = all.AsSpan(row * HiddenSize, sequences[s].Length * HiddenSize).ToArray();
            row += sequences[s].Length;
        }
        return result;
    }

    /// <summary>
    /// Attention for every (sequence, head) pair in parallel from the query, key and value buffers into the context
    /// buffer; each pair is independent, so results do not depend on scheduling.
    /// </summary>
    private void SelfAttention(IReadOnlyList<int[]> sequences, ITensorQuantizer? probsQuantizer)
    {
        int heads = Config.NumAttentionHeads, headDim = Config.HeadDim, width = HiddenSize;
        float scale = 1f / MathF.Sqrt(headDim);
        var starts = new int[sequences.Count];
        int largest = 0;
        for (int s = 1; s < sequences.Count; s++) starts[s] = starts[s - 1] + sequences[s - 1].Length;
        foreach (int[] sequence in sequences) largest = Math.Max(largest, sequence.Length * sequence.Length);

        Parallel.For(0, sequences.Count * heads, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
            () => ArrayPool<float>.Shared.Rent(Math.Max(1, largest)),
            (item, _, probs) =>
            {
                int s = item / heads, head = item % heads, length = sequences[s].Length, offset = starts[s] * width + head * headDim;
                if (length == 0) return probs;
                Span<float> p = probs.AsSpan(0, length * length);
                Attention.BidirectionalProbabilities(_query.AsSpan(offset), width, _key.AsSpan(offset), width, length, length, headDim, scale, p);
                probsQuantizer?.Apply(p, length, length);
                Attention.WeightedSum(p, _value.AsSpan(offset), width, length, length, headDim, _context.AsSpan(offset), width);
                return probs;
            },
            probs => ArrayPool<float>.Shared.Return(probs));
    }

    private static void Quantize(QuantizationPoint point, float[] values, int rows, int cols) =>
        point.Quantizer?.Apply(values.AsSpan(0, rows * cols), rows, cols);

    /// <summary>Grows the activation buffers to the largest batch seen (fresh memory is slow to touch; they are never shrunk).</summary>
    private void EnsureTokens(int tokens)
    {
        if (tokens <= _tokenCapacity) return;
        int hidden = HiddenSize, inner = Config.IntermediateSize;
        _hidden = new float[tokens * hidden];
        _query = new float[tokens * hidden];
        _key = new float[tokens * hidden];
        _value = new float[tokens * hidden];
        _context = new float[tokens * hidden];
        _projection = new float[tokens * hidden];
        _intermediate = new float[tokens * inner];
        _quantizerInput = new float[tokens * Math.Max(hidden, inner)];
        _tokenCapacity = tokens;
    }

    private int CheckSequences(IReadOnlyList<int[]> sequences, IReadOnlyList<int[]>? tokenTypes)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        if (tokenTypes is not null && tokenTypes.Count != sequences.Count)
            throw new ArgumentException($"Forward: {tokenTypes.Count} token-type arrays for {sequences.Count} sequences.");
        long tokens = 0;
        for (int s = 0; s < sequences.Count; s++)
        {
            int[] sequence = sequences[s] ?? throw new ArgumentException($"Sequence {s} is null.");
            if (sequence.Length > ContextLength)
                throw new ArgumentException($"Sequence {s} has {sequence.Length} tokens, more than the {ContextLength} positions of the model (max_position_embeddings); truncate it.");
            for (int i = 0; i < sequence.Length; i++)
                if ((uint)sequence[i] >= (uint)VocabSize)
                    throw new ArgumentException($"Sequence {s}, position {i}: token id {sequence[i]} is outside the vocabulary 0..{VocabSize - 1}.");
            if (tokenTypes is not null)
            {
                int[] types = tokenTypes[s] ?? throw new ArgumentException($"Token types of sequence {s} are null.");
                if (types.Length != sequence.Length)
                    throw new ArgumentException($"Sequence {s} has {sequence.Length} tokens but {types.Length} token types.");
                foreach (int type in types)
                    if ((uint)type >= (uint)Config.TypeVocabSize)
                        throw new ArgumentException($"Sequence {s}: token type {type} is outside 0..{Config.TypeVocabSize - 1} (type_vocab_size).");
            }
            tokens += sequence.Length;
        }
        if (tokens * Math.Max(HiddenSize, Config.IntermediateSize) > Array.MaxLength)
            throw new ArgumentException($"A batch of {tokens} tokens is too large for one forward pass; split it.");
        return (int)tokens;
    }
}
