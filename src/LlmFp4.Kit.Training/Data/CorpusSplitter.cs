namespace LlmFp4.Kit.Data;

public enum CorpusSplit { Train, Validation, Test }

/// <summary>How documents are split; serialised into provenance.json.</summary>
public sealed record CorpusSplitSettings(int Seed = 20240601, double ValidationFraction = 0.05, double TestFraction = 0.05);

/// <summary>Document-level train/validation/test split, stratified by source.</summary>
public static class CorpusSplitter
{
    /// <summary>
    /// Assigns every document to a split. Within each source the documents are shuffled (Fisher–Yates, a
    /// <see cref="Random"/> seeded by the setting's seed and a stable hash of the source name, so adding a source
    /// leaves the others' splits unchanged); the first round(n·test) go to test, the next round(n·validation) to
    /// validation, at least one each, the rest to train. Returns one split per document, in input order.
    /// </summary>
    /// <exception cref="ArgumentException">A source has fewer than three documents, or the fractions leave no training data.</exception>
    public static CorpusSplit[] Assign(IReadOnlyList<CorpusDocument> documents, CorpusSplitSettings settings)
    {
        if (settings.ValidationFraction is <= 0 or >= 1 || settings.TestFraction is <= 0 or >= 1
            || settings.ValidationFraction + settings.TestFraction >= 1)
            throw new ArgumentException($"Split fractions validation={settings.ValidationFraction}, test={settings.TestFraction} must be in (0, 1) and sum below 1.", nameof(settings));
        var splits = new CorpusSplit[documents.Count];
        foreach (var group in Enumerable.Range(0, documents.Count).GroupBy(i => documents[i].Source))
        {
            var indices = group.ToArray();
            int n = indices.Length;
            int test = Math.Max(1, (int)Math.Round(n * settings.TestFraction, MidpointRounding.AwayFromZero));
            int validation = Math.Max(1, (int)Math.Round(n * settings.ValidationFraction, MidpointRounding.AwayFromZero));
            if (test + validation >= n)
                throw new ArgumentException($"Source '{group.Key}' has {n} documents: too few for a train/validation/test split.", nameof(documents));
            var random = new Random(unchecked(settings.Seed ^ (int)StableHash(group.Key)));
            for (int i = n - 1; i > 0; i--)
            {
                int j = random.Next(i + 1);
                (indices[i], indices[j]) = (indices[j], indices[i]);
            }
            for (int k = 0; k < n; k++)
                splits[indices[k]] = k < test ? CorpusSplit.Test : k < test + validation ? CorpusSplit.Validation : CorpusSplit.Train;
        }
        return splits;
    }

    /// <summary>FNV-1a over UTF-16 code units: unlike string.GetHashCode, the same in every process.</summary>
    internal static uint StableHash(string text)
    {
        uint hash = 2166136261;
        foreach (char c in text)
            hash = (hash ^ c) * 16777619;
        return hash;
    }
}
