using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models.Loading;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Models;

/// <summary>
/// A LLaMA-architecture causal language model in float32 (Hugging Face <c>LlamaForCausalLM</c> semantics):
/// token embedding, decoder layers (RMSNorm, RoPE, causal multi-head / grouped-query attention, SwiGLU MLP),
/// final norm and a tied or untied lm_head. Every linear layer carries an input quantization point and can
/// be observed; the attention matmuls carry optional points (see <see cref="LlamaDecoderLayer"/>).
/// Not thread-safe: one forward at a time per model (activation buffers are reused across calls).
/// </summary>
public sealed partial class LlamaModel : IGreedyLanguageModel, IQuantizableModel
{
    private readonly LlamaWorkspace _workspace;
    private int _maxBatchTokens = 4096;

    /// <summary>
    /// Builds the model from Hugging Face–named float32 weights with HF shapes (row-major; Linear weights
    /// [out, in]). The arrays are kept, not copied. <c>lm_head.weight</c> is ignored when
    /// <c>tie_word_embeddings</c> is set (the head then shares the embedding array) and required otherwise;
    /// <c>rotary_emb.inv_freq</c> buffers are ignored. A missing, mis-sized or unexpected tensor throws an
    /// <see cref="ArgumentException"/> naming it.
    /// </summary>
    public LlamaModel(LlamaConfig config, IReadOnlyDictionary<string, float[]> weights)
        : this(CheckNames(config, weights), (name, shape) => Take(weights, name, shape),
            (module, inFeatures, outFeatures) => new LinearLayer(module, inFeatures, outFeatures, Take(weights, module + ".weight", [outFeatures, inFeatures])))
    {
    }

    /// <summary>
    /// Builds the model from an open checkpoint. By default every tensor is converted to float32 now and the
    /// checkpoint may be closed afterwards. With <paramref name="keepStoredWeights"/>, linear weights stored as
    /// F16 or BF16 stay in the memory-mapped file and are converted into a reused float32 buffer each time
    /// their layer runs (half the memory of float32, at the cost of a conversion per layer per forward; decoding one token
    /// with F16 weights multiplies them in place instead, <see cref="LinearLayer.Forward"/>); the
    /// checkpoint must then stay open while the model is used, and reading <see cref="LinearLayer.Weight"/>
    /// (calibrators, <see cref="NamedWeights"/>) converts that layer for good. The embedding and norms are always float32.
    /// </summary>
    public static LlamaModel FromCheckpoint(LlamaCheckpoint checkpoint, bool keepStoredWeights = false)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        return new LlamaModel(checkpoint.Config, (name, _) => checkpoint.ReadFloat32(name), (module, inFeatures, outFeatures) =>
        {
            string name = module + ".weight";
            return keepStoredWeights && checkpoint.Tensors[name].DType != DType.F32
                ? new LinearLayer(module, inFeatures, outFeatures, destination => checkpoint.ReadFloat32(name, destination), checkpoint.HalfView(name))
                : new LinearLayer(module, inFeatures, outFeatures, checkpoint.ReadFloat32(name));
        });
    }

    /// <param name="config">Model shape.</param>
    /// <param name="dense">Reads the embedding or a norm weight by name and HF shape.</param>
    /// <param name="linear">Makes the linear layer of a module (name without <c>.weight</c>, in and out features).</param>
    private LlamaModel(LlamaConfig config, Func<string, int[], float[]> dense, Func<string, int, int, LinearLayer> linear)
    {
        config.Validate();
        Config = config;
        int vocab = config.VocabSize, hidden = config.HiddenSize;
        Embedding = new NamedTensor(LlamaTensorLayout.Embedding, [vocab, hidden], dense(LlamaTensorLayout.Embedding, [vocab, hidden]));
        Layers = Enumerable.Range(0, config.NumHiddenLayers).Select(i => new LlamaDecoderLayer(i, config, dense, linear)).ToArray();
        FinalNorm = new NamedTensor(LlamaTensorLayout.FinalNorm, [hidden], dense(LlamaTensorLayout.FinalNorm, [hidden]));
        LmHead = config.TieWordEmbeddings ? new LinearLayer("lm_head", hidden, vocab, Embedding.Data) : linear("lm_head", hidden, vocab);
        Linears = [.. Layers.SelectMany(layer => layer.Linears), LmHead];
        AttentionMatMulPoints = [.. Layers.SelectMany(layer => layer.AttentionMatMulPoints)];
        Rope = Rope.For(config);
        _workspace = new LlamaWorkspace(config);
    }

    /// <summary>
    /// A model with weights drawn from N(0, std²) by a seeded <see cref="Random"/> (Box–Muller, in
    /// <see cref="WeightShapes"/> order) and norm weights of 1. Same config and seed → same weights.
    /// </summary>
    public static LlamaModel CreateRandom(LlamaConfig config, int seed, float std = 0.02f)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        return new LlamaModel(config, RandomWeights.Create(WeightShapes(config), seed, std, name => name.EndsWith("norm.weight", StringComparison.Ordinal)));
    }

    /// <summary>Every parameter of a model with this config, by HF name with its HF shape, in checkpoint order (<see cref="LlamaTensorLayout.Expected"/>).</summary>
    public static IReadOnlyList<(string Name, int[] Shape)> WeightShapes(LlamaConfig config) => LlamaTensorLayout.Expected(config);

    /// <summary>The Hugging Face config the model was built from.</summary>
    public LlamaConfig Config { get; }
    /// <inheritdoc/>
    public int VocabSize => Config.VocabSize;
    /// <summary>Longest sequence in tokens: max_position_embeddings.</summary>
    public int ContextLength => Config.MaxPositionEmbeddings;

    /// <summary>The token embedding table [vocab × hidden]; replace <see cref="NamedTensor.Data"/> to quantize it.</summary>
    public NamedTensor Embedding { get; }
    /// <summary>The decoder blocks, <c>model.layers.{i}</c>, in order.</summary>
    public IReadOnlyList<LlamaDecoderLayer> Layers { get; }
    /// <summary><c>model.norm.weight</c>, the RMSNorm gain before lm_head, [hidden].</summary>
    public NamedTensor FinalNorm { get; }

    /// <summary>
    /// The output projection. With tied embeddings its weight starts as the embedding array itself: writing
    /// into either array changes both, replacing either array (the setters) unties them.
    /// </summary>
    public LinearLayer LmHead { get; }

    /// <summary>Every linear layer in execution order: per layer q, k, v, o, gate, up, down; then lm_head.</summary>
    public IReadOnlyList<LinearLayer> Linears { get; }

    /// <summary>The optional attention-matmul points of all layers (q, k, probs, v per layer); all off by default.</summary>
    public IReadOnlyList<QuantizationPoint> AttentionMatMulPoints { get; }

    /// <summary>Sees every linear layer's input and output during forward passes; null = off.</summary>
    public ILinearObserver? Observer { get; set; }

    /// <summary>The rotary tables for max_position_embeddings positions.</summary>
    public Rope Rope { get; }

    /// <summary>
    /// Largest number of tokens <see cref="TokenLogProbs"/> runs in one forward pass (sequences are grouped
    /// up to it; a longer single sequence still runs alone). Bounds the activation and logits buffers.
    /// </summary>
    public int MaxBatchTokens
    {
        get => _maxBatchTokens;
        set => _maxBatchTokens = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(MaxBatchTokens), "MaxBatchTokens must be positive.");
    }

    /// <summary>
    /// The current parameters under their HF names with HF shapes, wrapping the live arrays (no copy), in
    /// <see cref="WeightShapes"/> order. <c>lm_head.weight</c> is included when the head is untied, or when it
    /// no longer shares the embedding array (e.g. after a calibrator replaced it).
    /// </summary>
    public IEnumerable<(string Name, Tensor Tensor)> NamedWeights()
    {
        yield return (Embedding.Name, Embedding.AsTensor());
        static (string, Tensor) Linear(LinearLayer linear) => (linear.WeightName, new Tensor(linear.Weight, linear.OutFeatures, linear.InFeatures));
        foreach (var layer in Layers)
        {
            yield return (layer.InputNorm.Name, layer.InputNorm.AsTensor());
            foreach (var linear in new[] { layer.QProj, layer.KProj, layer.VProj, layer.OProj })
                yield return Linear(linear);
            yield return (layer.PostAttentionNorm.Name, layer.PostAttentionNorm.AsTensor());
            foreach (var linear in new[] { layer.GateProj, layer.UpProj, layer.DownProj })
                yield return Linear(linear);
        }
        yield return (FinalNorm.Name, FinalNorm.AsTensor());
        if (!ReferenceEquals(LmHead.Weight, Embedding.Data))
            yield return Linear(LmHead);
    }

    /// <summary>A deep copy of the weights (tied head stays tied); quantizers and observer are not copied.</summary>
    public LlamaModel Clone()
    {
        var weights = NamedWeights().ToDictionary(entry => entry.Name, entry => (float[])entry.Tensor.Data.Clone());
        var config = Config.TieWordEmbeddings && weights.ContainsKey(LmHead.WeightName) ? Config with { TieWordEmbeddings = false } : Config;
        return new LlamaModel(config, weights);
    }

    /// <summary>
    /// Runs the batch and writes logits for every token of every sequence, sequence after sequence, into
    /// <paramref name="logits"/> ([Σ lengths × vocab], row-major). Sequences may differ in length; each is
    /// positioned from 0 and attends only to itself.
    /// </summary>
    public void Forward(IReadOnlyList<int[]> sequences, Span<float> logits)
    {
        int tokens = CheckSequences(sequences);
        long needed = (long)tokens * VocabSize;
        if (logits.Length < needed)
            throw new ArgumentException($"Forward: logits has {logits.Length} elements, needs {needed} ({tokens} tokens × vocab {VocabSize}).");
        if (tokens == 0) return;
        RunLayers(sequences, tokens);
        RunHead(tokens, logits);
    }

    /// <summary>Logits per sequence, each a fresh [length × vocab] array. Convenience over <see cref="Forward"/>.</summary>
    public float[][] Logits(IReadOnlyList<int[]> sequences)
    {
        int tokens = CheckSequences(sequences);
        float[] all = _workspace.EnsureLogits(tokens);
        Forward(sequences, all);
        var result = new float[sequences.Count][];
        int row = 0;
        for (int s = 0; s < sequences.Count; s++)
        {
            result[s] = all.AsSpan(row * VocabSize, sequences[s].Length * VocabSize).ToArray();
            row += sequences[s].Length;
        }
        return result;
    }

    /// <inheritdoc />
    public float[][] TokenLogProbs(IReadOnlyList<int[]> sequences) =>
        Score(sequences, withArgMax: false).Select(scores => scores.LogProbs).ToArray();

    /// <inheritdoc />
    public NextTokenScores[] ScoreNextTokens(IReadOnlyList<int[]> sequences) => Score(sequences, withArgMax: true);

    /// <summary>
    /// Runs sequences in groups of at most <see cref="MaxBatchTokens"/> tokens and reads, at each position, the
    /// log-probability of the actual next token and (when asked) the most likely one, lowest id on ties.
    /// </summary>
    private NextTokenScores[] Score(IReadOnlyList<int[]> sequences, bool withArgMax)
    {
        CheckSequences(sequences);
        var result = new NextTokenScores[sequences.Count];
        int start = 0;
        while (start < sequences.Count)
        {
            int end = start, tokens = 0;
            while (end < sequences.Count && (end == start || tokens + sequences[end].Length <= MaxBatchTokens))
                tokens += sequences[end++].Length;
            var group = new ArraySegment<int[]>(sequences.Skip(start).Take(end - start).ToArray());
            float[] logits = _workspace.EnsureLogits(tokens);
            Forward(group, logits);
            int row = 0;
            for (int s = start; s < end; s++)
            {
                int[] sequence = sequences[s];
                int positions = Math.Max(0, sequence.Length - 1);
                var logProbs = new float[positions];
                var argMax = withArgMax ? new int[positions] : [];
                for (int i = 0; i < positions; i++)
                {
                    ReadOnlySpan<float> rowLogits = logits.AsSpan((row + i) * VocabSize, VocabSize);
                    logProbs[i] = rowLogits[sequence[i + 1]] - Softmax.LogSumExp(rowLogits);
                    if (withArgMax) argMax[i] = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(rowLogits);
                }
                result[s] = new NextTokenScores(logProbs, argMax);
                row += sequence.Length;
            }
            start = end;
        }
        return result;
    }

    /// <summary>A cache for <see cref="Decode"/> holding up to <paramref name="capacity"/> positions (default: the context length).</summary>
    public KvCache CreateCache(int? capacity = null) => new(Config, capacity ?? ContextLength);

    /// <summary>
    /// Runs <paramref name="tokens"/> at positions <c>cache.Length ..</c>, attending to the cached positions and
    /// to each other causally, appends their keys and values to <paramref name="cache"/> and writes the logits
    /// of the last token into <paramref name="lastLogits"/> (vocab values). Every quantization point acts as in
    /// <see cref="Forward"/>, on the new rows only (activation quantizers work per token, the probabilities
    /// quantizer sees the new rows of the attention matrix), so prefilling a prompt and then decoding one
    /// token at a time gives the logits a full forward gives at those positions. (One exception: a probabilities
    /// quantizer whose parameters depend on the masked zeros the full forward passes it, such as asymmetric
    /// per-row min-max, sees only the visible entries here.)
    /// </summary>
    public void Decode(ReadOnlySpan<int> tokens, KvCache cache, Span<float> lastLogits)
    {
        ArgumentNullException.ThrowIfNull(cache);
        if (cache.Width != Config.KeyValueHeads * Config.HeadDim || cache.LayerCount != Layers.Count || cache.Capacity > ContextLength)
            throw new ArgumentException("Decode: the KV cache was made for a model of another shape.");
        if (tokens.IsEmpty) throw new ArgumentException("Decode: no tokens to run.");
        if (cache.Length + tokens.Length > cache.Capacity)
            throw new ArgumentException(
                $"Decode: {tokens.Length} more tokens do not fit the KV cache ({cache.Length} of {cache.Capacity} positions used); clear it or make a larger one.");
        if (lastLogits.Length < VocabSize)
            throw new ArgumentException($"Decode: logits has {lastLogits.Length} elements, needs the vocabulary size {VocabSize}.");
        int[][] sequence = [tokens.ToArray()];
        CheckSequences(sequence);
        RunLayers(sequence, tokens.Length, cache);
        cache.Length += tokens.Length;
        NormalizeFinal(tokens.Length);
        int hidden = Config.HiddenSize;
        LmHead.Forward(_workspace.Normed.AsSpan((tokens.Length - 1) * hidden, hidden), lastLogits[..VocabSize], 1, _workspace.QuantizerInput, Observer);
    }

    /// <summary>
    /// Embedding and decoder layers, leaving the residual stream in the workspace. With a
    /// <paramref name="cache"/> (one sequence only) the tokens follow the cached positions and their keys and
    /// values are appended to it; the caller advances <see cref="KvCache.Length"/>.
    /// </summary>
    private void RunLayers(IReadOnlyList<int[]> sequences, int tokens, KvCache? cache = null)
    {
        _workspace.EnsureTokens(tokens);
        Embed(sequences, tokens);
        foreach (var layer in Layers) RunBlock(layer, sequences, tokens, cache);
    }

    /// <summary>Writes the batch's token embeddings into the workspace's residual stream.</summary>
    private void Embed(IReadOnlyList<int[]> sequences, int tokens)
    {
        int hidden = Config.HiddenSize, row = 0;
        Span<float> residual = _workspace.Residual.AsSpan(0, tokens * hidden);
        foreach (int[] sequence in sequences)
            foreach (int token in sequence)
                Embedding.Data.AsSpan(token * hidden, hidden).CopyTo(residual.Slice(row++ * hidden, hidden));
    }

    /// <summary>
    /// One decoder block over the batch, updating the workspace's residual stream in place (the only state a block
    /// passes to the next). With a <paramref name="cache"/> see <see cref="RunLayers"/>.
    /// </summary>
    private void RunBlock(LlamaDecoderLayer layer, IReadOnlyList<int[]> sequences, int tokens, KvCache? cache)
    {
        var ws = _workspace;
        int hidden = Config.HiddenSize, heads = Config.NumAttentionHeads, kvHeads = Config.KeyValueHeads, kvWidth = kvHeads * Config.HeadDim;
        int past = cache?.Length ?? 0;
        float eps = (float)Config.RmsNormEps;
        Normalize(ws.Residual, layer.InputNorm.Data, eps, ws.Normed, tokens, hidden);
        layer.QProj.Forward(ws.Normed, ws.Query, tokens, ws.QuantizerInput, Observer);
        layer.KProj.Forward(ws.Normed, ws.Key, tokens, ws.QuantizerInput, Observer);
        layer.VProj.Forward(ws.Normed, ws.Value, tokens, ws.QuantizerInput, Observer);
        int row = 0;
        foreach (int[] sequence in sequences)
        {
            Rope.Apply(ws.Query.AsSpan(row * hidden), sequence.Length, heads, past);
            Rope.Apply(ws.Key.AsSpan(row * kvWidth), sequence.Length, kvHeads, past);
            row += sequence.Length;
        }
        Quantize(layer.QueryMatMul, ws.Query, tokens, hidden);
        Quantize(layer.KeyMatMul, ws.Key, tokens, kvWidth);
        Quantize(layer.ValueMatMul, ws.Value, tokens, kvWidth);
        float[] keys = ws.Key, values = ws.Value;
        if (cache is not null)
        {
            keys = cache.Keys(layer.Index);
            values = cache.Values(layer.Index);
            ws.Key.AsSpan(0, tokens * kvWidth).CopyTo(keys.AsSpan(past * kvWidth));
            ws.Value.AsSpan(0, tokens * kvWidth).CopyTo(values.AsSpan(past * kvWidth));
        }
        CausalSelfAttention(sequences, keys, values, past, layer.ProbsMatMul.Quantizer);
        layer.OProj.Forward(ws.Context, ws.Projection, tokens, ws.QuantizerInput, Observer);
        AddToResidual(tokens, hidden);

        Normalize(ws.Residual, layer.PostAttentionNorm.Data, eps, ws.Normed, tokens, hidden);
        int inner = Config.IntermediateSize;
        layer.GateProj.Forward(ws.Normed, ws.Gate, tokens, ws.QuantizerInput, Observer);
        layer.UpProj.Forward(ws.Normed, ws.Up, tokens, ws.QuantizerInput, Observer);
        // Split at multiples of SwiGlu's own 256-element chunks, so every chunk is computed as in one call.
        FakeQuant.ForEachRowChunk((tokens * inner + 255) / 256, 256, parallel: true, (first, end) =>
        {
            int start = first * 256, length = Math.Min(tokens * inner, end * 256) - start;
            SwiGlu.Forward(ws.Gate.AsSpan(start, length), ws.Up.AsSpan(start, length), ws.Gate.AsSpan(start, length));
        });
        layer.DownProj.Forward(ws.Gate, ws.Projection, tokens, ws.QuantizerInput, Observer);
        AddToResidual(tokens, hidden);
    }

    // The element-wise steps run on row chunks in parallel for a large batch; each row's values do not depend on the split.

    private static void Normalize(float[] x, float[] weight, float eps, float[] destination, int tokens, int hidden) =>
        FakeQuant.ForEachRowChunk(tokens, hidden, parallel: true, (first, end) =>
            RmsNorm.Forward(x.AsSpan(first * hidden, (end - first) * hidden), weight, eps, destination.AsSpan(first * hidden, (end - first) * hidden)));

    /// <summary>The residual stream plus the block's projection, in place.</summary>
    private void AddToResidual(int tokens, int hidden)
    {
        var ws = _workspace;
        FakeQuant.ForEachRowChunk(tokens, hidden, parallel: true, (first, end) =>
        {
            var residual = ws.Residual.AsSpan(first * hidden, (end - first) * hidden);
            System.Numerics.Tensors.TensorPrimitives.Add(residual, ws.Projection.AsSpan(first * hidden, (end - first) * hidden), residual);
        });
    }

    /// <summary>The final norm and lm_head over the workspace's residual stream: logits [tokens × vocab].</summary>
    private void RunHead(int tokens, Span<float> logits)
    {
        NormalizeFinal(tokens);
        LmHead.Forward(_workspace.Normed, logits, tokens, _workspace.QuantizerInput, Observer);
    }

    /// <summary>The final norm of the workspace's residual stream into its normed buffer, lm_head's input.</summary>
    private void NormalizeFinal(int tokens)
    {
        Normalize(_workspace.Residual, FinalNorm.Data, (float)Config.RmsNormEps, _workspace.Normed, tokens, Config.HiddenSize);
    }

    /// <summary>
    /// Attention for every (sequence, head) pair in parallel; each pair is independent, so results do not depend
    /// on scheduling. Sequence s's queries start at the row where its tokens start in the batch; its keys and
    /// values start at the same row of <paramref name="keys"/> / <paramref name="values"/> and run
    /// <paramref name="past"/> positions longer (the cached ones, when decoding a single sequence).
    /// </summary>
    private void CausalSelfAttention(IReadOnlyList<int[]> sequences, float[] keys, float[] values, int past, ITensorQuantizer? probsQuantizer)
    {
        var ws = _workspace;
        int heads = Config.NumAttentionHeads, headDim = Config.HeadDim, group = heads / Config.KeyValueHeads;
        int qWidth = heads * headDim, kvWidth = Config.KeyValueHeads * headDim;
        float scale = 1f / MathF.Sqrt(headDim);
        var starts = new int[sequences.Count];
        int largest = 0;
        for (int s = 1; s < sequences.Count; s++) starts[s] = starts[s - 1] + sequences[s - 1].Length;
        foreach (int[] sequence in sequences) largest = Math.Max(largest, sequence.Length * (past + sequence.Length));

        ForkJoin.For(sequences.Count * heads, Environment.ProcessorCount, item =>
        {
            int s = item / heads, head = item % heads, queries = sequences[s].Length, start = starts[s], visible = past + queries;
            if (queries == 0) return;
            float[] probs = ws.RentProbabilities(largest);
            Span<float> p = probs.AsSpan(0, queries * visible);
            Attention.CausalProbabilities(ws.Query.AsSpan(start * qWidth + head * headDim), qWidth,
                keys.AsSpan(start * kvWidth + head / group * headDim), kvWidth, queries, visible, headDim, scale, p);
            probsQuantizer?.Apply(p, queries, visible);
            Attention.WeightedSum(p, values.AsSpan(start * kvWidth + head / group * headDim), kvWidth, queries, visible, headDim,
                ws.Context.AsSpan(start * qWidth + head * headDim), qWidth, causal: true);
            ws.ReturnProbabilities(probs);
        });
    }

    private static void Quantize(QuantizationPoint point, float[] values, int rows, int cols) =>
        point.Quantizer?.Apply(values.AsSpan(0, rows * cols), rows, cols);

    private int CheckSequences(IReadOnlyList<int[]> sequences)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        long tokens = 0;
        for (int s = 0; s < sequences.Count; s++)
        {
            int[] sequence = sequences[s] ?? throw new ArgumentException($"Sequence {s} is null.");
            if (sequence.Length > ContextLength)
                throw new ArgumentException($"Sequence {s} has {sequence.Length} tokens, more than the context length {ContextLength} (max_position_embeddings).");
            for (int i = 0; i < sequence.Length; i++)
                if ((uint)sequence[i] >= (uint)VocabSize)
                    throw new ArgumentException($"Sequence {s}, position {i}: token id {sequence[i]} is outside the vocabulary 0..{VocabSize - 1}.");
            tokens += sequence.Length;
        }
        if (tokens * Math.Max(Config.HiddenSize, Config.IntermediateSize) > Array.MaxLength)
            throw new ArgumentException($"A batch of {tokens} tokens is too large for one forward pass; split it.");
        return (int)tokens;
    }

    private static float[] Take(IReadOnlyDictionary<string, float[]> weights, string name, int[] shape)
    {
        if (!weights.TryGetValue(name, out float[]? data))
            throw new ArgumentException($"{name}: missing (expected shape {Tensor.FormatShape(shape)}).");
        long expected = shape.Aggregate(1L, (product, dim) => product * dim);
        if (data.Length != expected)
            throw new ArgumentException($"{name}: expected shape {Tensor.FormatShape(shape)} ({expected} values), got {data.Length} values.");
        return data;
    }

    /// <summary>Validates the config and rejects tensors the model has no place for (a tied head's lm_head.weight is ignored).</summary>
    private static LlamaConfig CheckNames(LlamaConfig config, IReadOnlyDictionary<string, float[]> weights)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        config.Validate();
        var known = WeightShapes(config).Select(entry => entry.Name).Append(LlamaTensorLayout.LmHead).ToHashSet();
        foreach (string name in weights.Keys)
            if (!known.Contains(name) && !name.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal))
                throw new ArgumentException($"{name}: unexpected tensor for a LLaMA model (no such parameter in {nameof(LlamaModel)}).");
        return config;
    }
}
