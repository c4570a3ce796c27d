using System.Text.Json.Serialization;

namespace LlmFp4.Kit.Formats;

/// <summary>Which elements of a row-major [rows × cols] matrix share one scale (or bias).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<GranularityKind>))]
public enum GranularityKind
{
    /// <summary>One scale for the whole matrix.</summary>
    PerTensor,

    /// <summary>One scale per row: per output channel of a weight [out × in], per token of an activation [tokens × features].</summary>
    PerRow,

    /// <summary>One scale per column: per input channel of an activation [tokens × features] (or of a weight's input axis).</summary>
    PerColumn,

    /// <summary>One scale per run of <see cref="Granularity.GroupSize"/> consecutive elements of a row; a shorter last group takes the remainder.</summary>
    PerGroup,
}

/// <summary>
/// Scale granularity of the <see cref="FakeQuant"/> matrix kernels. Scales are laid out as: PerTensor 1; PerRow
/// [rows]; PerColumn [cols]; PerGroup [rows × ⌈cols / g⌉] row-major (see <see cref="ScaleCount"/>).
/// </summary>
public readonly record struct Granularity
{
    /// <summary>A granularity; <paramref name="groupSize"/> is given for <see cref="GranularityKind.PerGroup"/> only.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An unknown kind, a group size below 1 for PerGroup, or a non-zero group size for another kind.</exception>
    [JsonConstructor]
    public Granularity(GranularityKind kind, int groupSize = 0)
    {
        if (!Enum.IsDefined(kind))
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown granularity.");
        if (kind == GranularityKind.PerGroup ? groupSize < 1 : groupSize != 0)
            throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, "A group size (≥ 1) goes with PerGroup and only with it.");
        Kind = kind;
        GroupSize = groupSize;
    }

    /// <summary>Which elements share a scale.</summary>
    public GranularityKind Kind { get; }

    /// <summary>Elements per group for <see cref="GranularityKind.PerGroup"/>; 0 otherwise.</summary>
    public int GroupSize { get; }

    /// <summary>One scale for the whole matrix.</summary>
    public static Granularity PerTensor => new(GranularityKind.PerTensor);
    /// <summary>One scale per row (per output channel of a weight, per token of an activation).</summary>
    public static Granularity PerRow => new(GranularityKind.PerRow);
    /// <summary>One scale per column (per input channel).</summary>
    public static Granularity PerColumn => new(GranularityKind.PerColumn);
    /// <summary>One scale per <paramref name="groupSize"/> consecutive elements of a row.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="groupSize"/> below 1.</exception>
    public static Granularity PerGroup(int groupSize) => new(GranularityKind.PerGroup, groupSize);

    /// <summary>Groups per row for PerGroup (⌈cols / g⌉), else 1.</summary>
    public int GroupsPerRow(int cols) => Kind == GranularityKind.PerGroup ? (cols + GroupSize - 1) / GroupSize : 1;

    /// <summary>How many scales a [rows × cols] matrix needs at this granularity.</summary>
    public int ScaleCount(int rows, int cols) => Kind switch
    {
        GranularityKind.PerTensor => 1,
        GranularityKind.PerRow => rows,
        GranularityKind.PerColumn => cols,
        _ => checked(rows * GroupsPerRow(cols)),
    };

    /// <summary>"PerTensor", "PerRow", "PerColumn" or "PerGroup(g)".</summary>
    public override string ToString() => Kind == GranularityKind.PerGroup ? $"PerGroup({GroupSize})" : Kind.ToString();
}
