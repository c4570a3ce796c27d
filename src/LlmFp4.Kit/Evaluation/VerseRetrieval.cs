using System.Diagnostics;
using LlmFp4.Kit.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace LlmFp4.Kit.Evaluation;

/// <summary>Sentence embeddings of the two sides of verse pairs, in pair order.</summary>
/// <param name="Kjv">One embedding per KJV verse.</param>
/// <param name="Web">One embedding per WEB verse.</param>
public sealed record VerseEmbeddings(float[][] Kjv, float[][] Web);

/// <summary>One verse in two public-domain translations: the King James Version and the World English Bible.</summary>
/// <param name="Id">The reference, e.g. <c>John 3:16</c>.</param>
/// <param name="Kjv">The verse in the King James Version (1769 text).</param>
/// <param name="Web">The verse in the World English Bible.</param>
public sealed record VersePair(string Id, string Kjv, string Web);

/// <summary>
/// The labelled task for sentence encoders: each KJV verse is a query whose answer is the WEB translation of the same
/// verse among all the task's WEB verses (<c>data/tasks/verse-retrieval/pairs.jsonl</c>, built by
/// <c>VerseRetrievalBuilder</c> of LlmFp4.Kit.Training, <c>llmfp4 tasks verses</c>). Candidates are ranked by cosine similarity; the metrics are recall@1
/// (the answer ranked first), recall@10 and the mean reciprocal rank.
/// </summary>
public static class VerseRetrieval
{
    /// <summary>Registry and results name of the task.</summary>
    public const string TaskName = "verse-retrieval";
    /// <summary>File name of the task's pairs under its task folder.</summary>
    public const string PairsFile = "pairs.jsonl";

    /// <summary>The task folder's other verses, one text per line (KJV and WEB), for calibrating encoders; never among the pairs.</summary>
    public const string CalibrationFile = "calibration.txt";

    /// <summary>The task's pairs file under a data folder (null: the repository's, found upwards from the current directory).</summary>
    public static string DefaultPairsPath(string? dataDirectory = null) =>
        Path.Combine(dataDirectory ?? TaskRegistry.FindDataDirectory("tasks"), "tasks", TaskName, PairsFile);

    /// <summary>The calibration texts beside <paramref name="pairsPath"/>: its non-empty lines.</summary>
    /// <exception cref="FileNotFoundException">No calibration file there.</exception>
    public static IReadOnlyList<string> CalibrationTexts(string pairsPath)
    {
        string path = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(pairsPath))!, CalibrationFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: the verse task's calibration texts are missing (llmfp4 tasks verses rebuilds them).", path);
        return [.. File.ReadAllLines(path).Where(line => line.Trim().Length > 0)];
    }

    /// <summary>The pairs of a task file (<c>{"id", "kjv", "web"}</c> per line); unusable records are listed as skipped.</summary>
    public static TaskFile<VersePair> Read(string path) =>
        JsonlRecords.Read(path, r => new VersePair(r.String("id"), r.String("kjv"), r.String("web")));

    /// <summary>
    /// The 1-based rank of each query's answer: query i is <paramref name="queries"/>[i], its answer
    /// <paramref name="candidates"/>[i], and its rank is one plus the number of other candidates at least as similar
    /// (ties count against the answer, so a model that maps everything to one vector ranks last, not first).
    /// Similarity is the cosine, computed as dot products of L2-normalised copies in float32 (GEMM).
    /// </summary>
    /// <exception cref="ArgumentException">Counts or dimensions differ, or nothing to rank.</exception>
    public static int[] Ranks(IReadOnlyList<float[]> queries, IReadOnlyList<float[]> candidates)
    {
        int n = queries.Count;
        if (n == 0 || candidates.Count != n)
            throw new ArgumentException($"Ranks: {n} queries and {candidates.Count} candidates; need the same positive number.");
        int dimension = queries[0].Length;
        float[] q = Normalised(queries, dimension), c = Normalised(candidates, dimension), similarity = new float[n * n];
        Gemm.MatMul(q, c, similarity, n, n, dimension, transposeB: true);
        var ranks = new int[n];
        for (int i = 0; i < n; i++)
        {
            ReadOnlySpan<float> row = similarity.AsSpan(i * n, n);
            float answer = row[i];
            int rank = 1;
            for (int j = 0; j < n; j++)
                if (j != i && !(row[j] < answer)) rank++; // NaN counts against the answer too
            ranks[i] = rank;
        }
        return ranks;
    }

    /// <summary>recall@1, recall@10 and MRR of <paramref name="ranks"/>, each a mean with lm-eval's standard error.</summary>
    public static IReadOnlyList<MetricValue> Metrics(IReadOnlyList<int> ranks) =>
    [
        Evaluation.Metrics.Mean("recall@1", ranks.Select(r => r == 1 ? 1.0 : 0.0).ToArray()),
        Evaluation.Metrics.Mean("recall@10", ranks.Select(r => r <= 10 ? 1.0 : 0.0).ToArray()),
        Evaluation.Metrics.Mean("mrr", ranks.Select(r => 1.0 / r).ToArray()),
    ];

    /// <summary>
    /// Embeds the KJV and WEB sides of <paramref name="pairs"/> with <paramref name="embed"/> (texts in, one vector per
    /// text out) and scores the retrieval; results are filed under <paramref name="info"/>. With <paramref name="reference"/>
    /// (the full-precision model's embeddings of the same pairs) the fidelity is scored too.
    /// </summary>
    public static IReadOnlyList<EvalResult> Evaluate(Func<IReadOnlyList<string>, float[][]> embed, IReadOnlyList<VersePair> pairs, EvalRunInfo info,
        VerseEmbeddings? reference = null)
    {
        ArgumentNullException.ThrowIfNull(embed);
        var clock = Stopwatch.StartNew();
        var embeddings = Embed(embed, info.Limit is int limit ? [.. pairs.Take(limit)] : pairs);
        return Score(embeddings, reference, info, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The embeddings of both sides of <paramref name="pairs"/>, KJV then WEB, each in pair order.</summary>
    public static VerseEmbeddings Embed(Func<IReadOnlyList<string>, float[][]> embed, IReadOnlyList<VersePair> pairs)
    {
        ArgumentNullException.ThrowIfNull(embed);
        ArgumentNullException.ThrowIfNull(pairs);
        return new VerseEmbeddings(embed([.. pairs.Select(p => p.Kjv)]), embed([.. pairs.Select(p => p.Web)]));
    }

    /// <summary>
    /// recall@1, recall@10 and MRR of <paramref name="embeddings"/> (<see cref="TaskName"/>), and, given the full-precision
    /// model's embeddings of the same texts, <see cref="Fidelity.MeanCosine"/> over both sides (<see cref="Fidelity.TaskName"/>,
    /// one example per text); <paramref name="seconds"/> is recorded as the wall time.
    /// </summary>
    /// <exception cref="ArgumentException">The reference holds other counts or dimensions.</exception>
    public static IReadOnlyList<EvalResult> Score(VerseEmbeddings embeddings, VerseEmbeddings? reference, EvalRunInfo info, double seconds)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        ArgumentNullException.ThrowIfNull(info);
        EvalResult Result(string task, MetricValue m) =>
            new(info.Model, info.QuantConfig, task, m.Metric, m.Value, m.Stderr, m.N, info.Seed, seconds, KitInfo.Version);
        var results = Metrics(Ranks(embeddings.Kjv, embeddings.Web)).Select(m => Result(TaskName, m)).ToList();
        if (reference is not null)
            results.Add(Result(Fidelity.TaskName, Fidelity.MeanCosine([.. reference.Kjv, .. reference.Web], [.. embeddings.Kjv, .. embeddings.Web])));
        return results;
    }

    private static float[] Normalised(IReadOnlyList<float[]> vectors, int dimension)
    {
        var result = new float[vectors.Count * dimension];
        for (int i = 0; i < vectors.Count; i++)
        {
            if (vectors[i].Length != dimension)
                throw new ArgumentException($"Ranks: vector {i} has {vectors[i].Length} dimensions, the first has {dimension}.");
            Span<float> row = result.AsSpan(i * dimension, dimension);
            float norm = TensorPrimitives.Norm(vectors[i]);
            TensorPrimitives.Divide(vectors[i], Math.Max(norm, 1e-12f), row);
        }
        return result;
    }
}
