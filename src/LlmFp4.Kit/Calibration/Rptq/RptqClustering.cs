namespace LlmFp4.Kit.Calibration;

/// <summary>
/// A reorder of channels that makes clusters contiguous: new position p holds old channel <see cref="Permutation"/>[p];
/// the clusters occupy consecutive runs of <see cref="ClusterSizes"/> positions.
/// </summary>
public sealed record ChannelClusters(int[] Permutation, int[] ClusterSizes)
{
    /// <summary>Every channel its own position and one cluster holding them all.</summary>
    public static ChannelClusters Identity(int channels) => new([.. Enumerable.Range(0, channels)], [channels]);

    /// <summary>Cluster index of every new position.</summary>
    public int[] ClusterOfPosition()
    {
        var result = new int[Permutation.Length];
        int position = 0;
        for (int c = 0; c < ClusterSizes.Length; c++)
            for (int i = 0; i < ClusterSizes[c]; i++) result[position++] = c;
        return result;
    }
}

/// <summary>
/// RPTQ's channel clustering: each channel is a point of per-channel statistics (min and max over the calibration
/// tokens, possibly of several tensors side by side), grouped by k-means; clusters are then laid out by ascending
/// mean range (max − min), channels inside a cluster by ascending index.
/// </summary>
public static class RptqClustering
{
    /// <summary>
    /// Deterministic k-means of <paramref name="count"/> points of <paramref name="dimensions"/> coordinates (row-major
    /// <paramref name="points"/>): k-means++ seeding from <c>new Random(seed + restart)</c>, Lloyd iterations until no
    /// assignment changes (at most <paramref name="maxIterations"/>), best of <paramref name="restarts"/> by the sum of
    /// squared distances (the earlier restart on ties). Returns the cluster of every point, clusters numbered 0..k'-1
    /// with k' ≤ min(k, count) (clusters left empty are dropped). Distances in double.
    /// </summary>
    public static int[] KMeans(ReadOnlySpan<double> points, int count, int dimensions, int k, int restarts, int seed, int maxIterations = 100)
    {
        if (count < 1 || dimensions < 1 || points.Length != count * dimensions)
            throw new ArgumentException($"KMeans: points hold {points.Length} values, not {count} × {dimensions} (both at least 1).");
        if (k < 1 || restarts < 1) throw new ArgumentException($"KMeans: k and restarts must be at least 1, got {k} and {restarts}.");
        k = Math.Min(k, count);
        var data = points.ToArray();
        int[]? best = null;
        double bestInertia = double.PositiveInfinity;
        for (int restart = 0; restart < restarts; restart++)
        {
            var (assignment, inertia) = Lloyd(data, count, dimensions, k, new Random(seed + restart), maxIterations);
            if (inertia < bestInertia)
            {
                (best, bestInertia) = (assignment, inertia);
            }
        }
        best ??= new int[count];
        var renumber = new Dictionary<int, int>();
        for (int i = 0; i < count; i++)
            if (!renumber.ContainsKey(best[i])) renumber[best[i]] = renumber.Count;
        return [.. best.Select(c => renumber[c])];
    }

    /// <summary>
    /// The reorder for per-channel statistics [channels × dimensions]: k-means with <paramref name="k"/> clusters, then
    /// clusters by ascending mean of (stat[2i+1] − stat[2i]) over the (min, max) pairs, channels by index inside each.
    /// </summary>
    public static ChannelClusters Cluster(ReadOnlySpan<double> statistics, int channels, int dimensions, int k, int restarts, int seed)
    {
        var assignment = KMeans(statistics, channels, dimensions, k, restarts, seed);
        int clusters = assignment.Max() + 1;
        var range = new double[clusters];
        var size = new int[clusters];
        for (int j = 0; j < channels; j++)
        {
            size[assignment[j]]++;
            for (int d = 0; d + 1 < dimensions; d += 2)
                range[assignment[j]] += statistics[j * dimensions + d + 1] - statistics[j * dimensions + d];
        }
        var order = Enumerable.Range(0, clusters).OrderBy(c => range[c] / size[c]).ThenBy(c => Array.IndexOf(assignment, c)).ToArray();
        var permutation = order.SelectMany(c => Enumerable.Range(0, channels).Where(j => assignment[j] == c)).ToArray();
        return new ChannelClusters(permutation, [.. order.Select(c => size[c])]);
    }

    /// <summary>Per-column (min, max) of a [rows × cols] matrix, as [cols × 2] (min first).</summary>
    public static double[] MinMaxStatistics(ReadOnlySpan<float> matrix, int rows, int cols)
    {
        var minimum = new float[cols];
        var maximum = new float[cols];
        Formats.FakeQuant.MinMax(matrix, rows, cols, Formats.Granularity.PerColumn, minimum, maximum);
        var result = new double[cols * 2];
        for (int j = 0; j < cols; j++)
        {
            result[2 * j] = minimum[j];
            result[2 * j + 1] = maximum[j];
        }
        return result;
    }

    private static (int[] Assignment, double Inertia) Lloyd(double[] points, int count, int dimensions, int k, Random random, int maxIterations)
    {
        var centroids = SeedPlusPlus(points, count, dimensions, k, random);
        var assignment = new int[count];
        Array.Fill(assignment, -1);
        var sums = new double[k * dimensions];
        var sizes = new int[k];
        double inertia = 0;
        for (int iteration = 0; iteration < maxIterations; iteration++)
        {
            bool changed = false;
            inertia = 0;
            for (int i = 0; i < count; i++)
            {
                var (nearest, distance) = Nearest(points.AsSpan(i * dimensions, dimensions), centroids, k, dimensions);
                inertia += distance;
                if (assignment[i] != nearest) (assignment[i], changed) = (nearest, true);
            }
            if (!changed) break;
            Array.Clear(sums);
            Array.Clear(sizes);
            for (int i = 0; i < count; i++)
            {
                sizes[assignment[i]]++;
                for (int d = 0; d < dimensions; d++) sums[assignment[i] * dimensions + d] += points[i * dimensions + d];
            }
            for (int c = 0; c < k; c++)
                if (sizes[c] > 0)
                    for (int d = 0; d < dimensions; d++) centroids[c * dimensions + d] = sums[c * dimensions + d] / sizes[c];
        }
        return (assignment, inertia);
    }

    private static double[] SeedPlusPlus(double[] points, int count, int dimensions, int k, Random random)
    {
        var centroids = new double[k * dimensions];
        var distance = new double[count];
        int first = random.Next(count);
        points.AsSpan(first * dimensions, dimensions).CopyTo(centroids);
        for (int i = 0; i < count; i++) distance[i] = SquaredDistance(points.AsSpan(i * dimensions, dimensions), centroids.AsSpan(0, dimensions));
        for (int c = 1; c < k; c++)
        {
            double total = distance.Sum();
            int chosen = count - 1;
            if (total > 0)
            {
                double target = random.NextDouble() * total, running = 0;
                for (int i = 0; i < count; i++)
                {
                    running += distance[i];
                    if (running > target) { chosen = i; break; }
                }
            }
            else chosen = random.Next(count);
            points.AsSpan(chosen * dimensions, dimensions).CopyTo(centroids.AsSpan(c * dimensions));
            for (int i = 0; i < count; i++)
                distance[i] = Math.Min(distance[i], SquaredDistance(points.AsSpan(i * dimensions, dimensions), centroids.AsSpan(c * dimensions, dimensions)));
        }
        return centroids;
    }

    private static (int Cluster, double Distance) Nearest(ReadOnlySpan<double> point, double[] centroids, int k, int dimensions)
    {
        int best = 0;
        double bestDistance = double.PositiveInfinity;
        for (int c = 0; c < k; c++)
        {
            double distance = SquaredDistance(point, centroids.AsSpan(c * dimensions, dimensions));
            if (distance < bestDistance) (best, bestDistance) = (c, distance);
        }
        return (best, bestDistance);
    }

    private static double SquaredDistance(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double sum = 0;
        for (int d = 0; d < a.Length; d++) sum += (a[d] - b[d]) * (a[d] - b[d]);
        return sum;
    }
}
