using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Tokenizers;

namespace LlmFp4.Kit.Evaluation;

/// <summary>
/// One lm-eval <c>loglikelihood</c> request: how likely is <paramref name="Continuation"/> after <paramref name="Context"/>?
/// <paramref name="Id"/> names it in errors (e.g. the example and choice); null names it by its index.
/// </summary>
public readonly record struct LoglikelihoodRequest(string Context, string Continuation, string? Id = null);

/// <summary>
/// Answer to a <see cref="LoglikelihoodRequest"/>: the summed natural-log probability of the continuation
/// tokens, how many tokens that was, and whether greedy decoding reproduces every one of them
/// (<c>null</c> when greedy tokens were not asked for).
/// </summary>
public readonly record struct LoglikelihoodResult(double LogLikelihood, int TokenCount, bool? IsGreedy);

/// <summary>How requests are tokenized and batched.</summary>
/// <param name="BatchSize">Sequences per model call.</param>
/// <param name="AddBosToken">
/// lm-eval's <c>add_bos_token</c> model argument. Null (its default): texts are encoded with the tokenizer's own
/// special tokens (<see cref="ITokenizer.Encode(string, bool)"/>), so a LLaMA tokenizer starts every context with
/// BOS and a GPT-2-style one adds nothing. True: the same, and BOS goes first where the tokenizer does not put it
/// there. False: no special tokens. Perplexity conditions its first window on the prefix token (BOS, else EOS) either way.
/// </param>
public sealed record ScoringOptions(int BatchSize = 16, bool? AddBosToken = null)
{
    /// <summary>Batches of 16 sequences; texts encoded with the tokenizer's own special tokens (lm-eval's add_bos_token default).</summary>
    public static ScoringOptions Default { get; } = new();

    /// <summary>
    /// <paramref name="text"/> as lm-eval's <c>tok_encode</c> encodes it under <see cref="AddBosToken"/>.
    /// </summary>
    public int[] Encode(ITokenizer tokenizer, string text)
    {
        int[] ids = tokenizer.Encode(text, addSpecialTokens: AddBosToken != false);
        return AddBosToken == true && tokenizer.BosTokenId is int bos && (ids.Length == 0 || ids[0] != bos) ? [bos, .. ids] : ids;
    }

    /// <summary>lm-eval's <c>prefix_token_id</c>: what an empty context or the first perplexity window is conditioned on (BOS, else EOS).</summary>
    public static int? PrefixToken(ITokenizer tokenizer) => tokenizer.BosTokenId ?? tokenizer.EosTokenId;
}

/// <summary>
/// Scores (context, continuation) pairs with lm-eval's semantics, on any <see cref="ICausalLanguageModel"/>.
/// <list type="bullet">
/// <item>Tokenization follows lm-eval's <c>TemplateLM._encode_pair</c>: trailing whitespace of the context is
/// moved to the front of the continuation; <c>whole = tok_encode(context + continuation)</c>,
/// <c>ctx = tok_encode(context)</c> (with the tokenizer's special tokens, see <see cref="ScoringOptions.AddBosToken"/>),
/// and the continuation tokens are <c>whole[ctx.Length..]</c>. The scored sequence is <c>ctx + those tokens</c> (as
/// in lm-eval, even where a merge across the boundary makes it differ from <c>whole</c>). An empty context is
/// lm-eval's <c>prefix_token_id</c> (BOS, else EOS) before the continuation encoded without special tokens, or the
/// continuation's own first token when that is the prefix token; a context that encodes to nothing becomes the
/// prefix token too. A continuation that encodes to no token is an error naming the request: it would score 0.</item>
/// <item>Too long: the sequence keeps its last <see cref="ICausalLanguageModel.ContextLength"/> tokens
/// (truncation from the left, as lm-eval's <c>[-(max_length+1):]</c>, except that here the scored sequence
/// itself must fit the context, so one token less of context is kept).</item>
/// <item>Shared work: requests whose token sequences are prefixes of another request's sequence (identical
/// ones included) are read off that longer sequence's single forward pass, since a causal model scores a
/// prefix the same way inside a longer sequence. The model contract returns only the log-probabilities of the
/// tokens it is given, so choices that diverge after a shared context still need one pass each; across
/// examples, sequences are batched longest first (lm-eval's collator order) to keep padding low.</item>
/// </list>
/// Deterministic: the order of model calls depends only on the requests.
/// </summary>
public sealed class LoglikelihoodScorer
{
    /// <summary>A scorer of <paramref name="model"/>'s log-likelihoods for text encoded by <paramref name="tokenizer"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="model"/> or <paramref name="tokenizer"/> is null.</exception>
    /// <exception cref="ArgumentException">A batch size below 1, or a model context shorter than 2 tokens.</exception>
    public LoglikelihoodScorer(ICausalLanguageModel model, ITokenizer tokenizer, ScoringOptions? options = null)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        Tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
        Options = options ?? ScoringOptions.Default;
        if (Options.BatchSize < 1)
            throw new ArgumentException($"Batch size must be at least 1, got {Options.BatchSize}.", nameof(options));
        if (model.ContextLength < 2)
            throw new ArgumentException($"Model context length must be at least 2 tokens, got {model.ContextLength}.", nameof(model));
    }

    /// <summary>The model scored.</summary>
    public ICausalLanguageModel Model { get; }
    /// <summary>The tokenizer that turns requests into token ids.</summary>
    public ITokenizer Tokenizer { get; }
    /// <summary>Batching and special-token handling.</summary>
    public ScoringOptions Options { get; }

    /// <summary>Context and continuation token ids exactly as lm-eval forms them (see the class remarks).</summary>
    public (int[] Context, int[] Continuation) EncodePair(string context, string continuation)
    {
        if (context.Length == 0)
        {
            int[] alone = Tokenizer.Encode(continuation);
            int prefix = PrefixToken();
            return alone.Length > 0 && alone[0] == prefix ? (alone[..1], alone[1..]) : ([prefix], alone);
        }
        int kept = context.TrimEnd().Length;
        if (kept < context.Length)
        {
            continuation = context[kept..] + continuation;
            context = context[..kept];
        }

        int[] whole = Options.Encode(Tokenizer, context + continuation);
        int[] contextIds = Options.Encode(Tokenizer, context);
        int[] continuationIds = whole.Length > contextIds.Length ? whole[contextIds.Length..] : [];
        if (contextIds.Length == 0)
            contextIds = [PrefixToken()];
        return (contextIds, continuationIds);
    }

    int PrefixToken() => ScoringOptions.PrefixToken(Tokenizer)
        ?? throw new ArgumentException("An empty context needs a BOS or EOS token to condition on, and the tokenizer has neither.");

    /// <summary>
    /// Scores every request. <paramref name="greedy"/> also reports whether greedy decoding reproduces each
    /// continuation; it needs a model implementing <see cref="IGreedyLanguageModel"/>.
    /// <paramref name="progress"/> receives (forward sequences done, forward sequences in all) after each batch.
    /// </summary>
    public LoglikelihoodResult[] Score(IReadOnlyList<LoglikelihoodRequest> requests, bool greedy = false,
        IProgress<EvalProgress>? progress = null)
    {
        var greedyModel = Model as IGreedyLanguageModel;
        if (greedy && greedyModel is null)
            throw new InvalidOperationException(
                $"Greedy-match accuracy needs a model that reports its most likely tokens ({nameof(IGreedyLanguageModel)}); {Model.GetType().Name} does not.");

        var sequences = new int[requests.Count][];
        var continuationLengths = new int[requests.Count];
        for (int i = 0; i < requests.Count; i++)
        {
            var (contextIds, continuationIds) = EncodePair(requests[i].Context, requests[i].Continuation);
            if (continuationIds.Length == 0)
                throw new ArgumentException(
                    $"{requests[i].Id ?? $"Request {i}"}: continuation '{requests[i].Continuation}' after context '…{requests[i].Context[^Math.Min(40, requests[i].Context.Length)..]}' " +
                    "encodes to no token of its own (the tokenizer merges it into the context's last token), so it has no likelihood to score.");
            sequences[i] = Truncate(contextIds, continuationIds, i);
            continuationLengths[i] = continuationIds.Length;
        }

        var (forwards, forwardOf) = ShareForwards(sequences, continuationLengths);
        var logProbs = new float[forwards.Count][];
        var argMax = greedy ? new int[forwards.Count][] : null;
        for (int start = 0; start < forwards.Count; start += Options.BatchSize)
        {
            var batch = forwards.GetRange(start, Math.Min(Options.BatchSize, forwards.Count - start));
            if (greedy)
            {
                var scores = greedyModel!.ScoreNextTokens(batch);
                for (int b = 0; b < batch.Count; b++)
                    (logProbs[start + b], argMax![start + b]) = (scores[b].LogProbs, scores[b].ArgMax);
            }
            else
            {
                var scores = Model.TokenLogProbs(batch);
                for (int b = 0; b < batch.Count; b++)
                    logProbs[start + b] = scores[b];
            }
            for (int b = 0; b < batch.Count; b++)
                CheckShape(logProbs[start + b], argMax?[start + b], batch[b].Length);
            progress?.Report(new EvalProgress(start + batch.Count, forwards.Count));
        }

        var results = new LoglikelihoodResult[requests.Count];
        for (int i = 0; i < requests.Count; i++)
        {
            int f = forwardOf[i], length = sequences[i].Length, count = continuationLengths[i];
            double sum = 0;
            bool allGreedy = true;
            // Token t[p] is predicted at output position p-1; the continuation occupies t[length-count .. length-1].
            for (int p = length - count; p < length; p++)
            {
                sum += logProbs[f][p - 1];
                if (argMax is not null && argMax[f][p - 1] != sequences[i][p])
                    allGreedy = false;
            }
            results[i] = new LoglikelihoodResult(sum, count, greedy ? allGreedy : null);
        }
        return results;
    }

    int[] Truncate(int[] contextIds, int[] continuationIds, int requestIndex)
    {
        int limit = Model.ContextLength;
        if (continuationIds.Length > limit - 1)
            throw new ArgumentException(
                $"Request {requestIndex}: the continuation is {continuationIds.Length} tokens, but the model's context of {limit} tokens can score at most {limit - 1}.");
        int[] sequence = [.. contextIds, .. continuationIds];
        return sequence.Length > limit ? sequence[^limit..] : sequence;
    }

    /// <summary>
    /// Picks the sequences to run: longest first (ties broken by token ids, for a fixed order), each sequence
    /// mapped onto the first chosen sequence with the same scored context that it is a prefix of. Comparing
    /// only within a context keeps this linear in the number of examples.
    /// </summary>
    static (List<int[]> Forwards, int[] ForwardOf) ShareForwards(int[][] sequences, int[] continuationLengths)
    {
        var order = Enumerable.Range(0, sequences.Length).ToArray();
        Array.Sort(order, (a, b) =>
        {
            int byLength = sequences[b].Length.CompareTo(sequences[a].Length);
            return byLength != 0 ? byLength : sequences[a].AsSpan().SequenceCompareTo(sequences[b]);
        });

        var forwards = new List<int[]>();
        var forwardOf = new int[sequences.Length];
        var byContext = new Dictionary<int[], List<int>>(TokenSequenceComparer.Instance);
        foreach (int i in order)
        {
            var sequence = sequences[i];
            var context = sequence[..^continuationLengths[i]];
            if (!byContext.TryGetValue(context, out var candidates))
                byContext[context] = candidates = [];
            int found = candidates.FindIndex(f => forwards[f].AsSpan().StartsWith(sequence));
            if (found >= 0)
            {
                forwardOf[i] = candidates[found];
                continue;
            }
            forwardOf[i] = forwards.Count;
            candidates.Add(forwards.Count);
            forwards.Add(sequence);
        }
        return (forwards, forwardOf);
    }

    sealed class TokenSequenceComparer : IEqualityComparer<int[]>
    {
        public static readonly TokenSequenceComparer Instance = new();
        public bool Equals(int[]? x, int[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(int[] tokens)
        {
            var hash = new HashCode();
            hash.AddBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(tokens.AsSpan()));
            return hash.ToHashCode();
        }
    }

    void CheckShape(float[] logProbs, int[]? argMax, int sequenceLength)
    {
        if (logProbs.Length != sequenceLength - 1 || (argMax is not null && argMax.Length != sequenceLength - 1))
            throw new InvalidOperationException(
                $"{Model.GetType().Name} returned {logProbs.Length} scores for a sequence of {sequenceLength} tokens; expected {sequenceLength - 1}.");
    }
}
