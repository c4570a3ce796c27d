using System.Globalization;

namespace LlmFp4.Kit.Benchmarks;

/// <summary>
/// The command line of a benchmark verb (<c>peers</c>, <c>cost-curve</c>, <c>fpq-ratio</c>): flags without a value and
/// options with one. Anything else is refused, because a verb run with a mistyped option would otherwise start its long
/// default run, and some defaults overwrite committed data.
/// </summary>
internal sealed class VerbOptions
{
    private readonly HashSet<string> _flags = [];
    private readonly Dictionary<string, string> _values = [];

    /// <summary>Reads <paramref name="args"/>, which may hold only <paramref name="flags"/> and <paramref name="valued"/> options, each followed by its value.</summary>
    /// <exception cref="ArgumentException">An unknown option, or an option without its value; the message lists the verb's options.</exception>
    public static VerbOptions Parse(string[] args, string[] flags, string[] valued)
    {
        var options = new VerbOptions();
        for (int i = 0; i < args.Length; i++)
        {
            if (flags.Contains(args[i])) options._flags.Add(args[i]);
            else if (valued.Contains(args[i]) && i + 1 < args.Length) options._values[args[i]] = args[++i];
            else
            {
                string known = string.Join(", ", flags.Concat(valued.Select(v => $"{v} VALUE")));
                throw new ArgumentException(valued.Contains(args[i])
                    ? $"{args[i]} needs a value; options: {known}."
                    : $"unknown option '{args[i]}'; options: {known}.");
            }
        }
        return options;
    }

    /// <summary>Whether the flag <paramref name="name"/> was given.</summary>
    public bool Has(string name) => _flags.Contains(name);

    /// <summary>The value of option <paramref name="name"/>, or null where it was not given.</summary>
    public string? this[string name] => _values.GetValueOrDefault(name);

    /// <summary>The integer value of option <paramref name="name"/>, or <paramref name="fallback"/> where it was not given.</summary>
    /// <exception cref="ArgumentException">The value is not an integer.</exception>
    public int Number(string name, int fallback) =>
        this[name] is not { } text ? fallback
        : int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) ? value
        : throw new ArgumentException($"{name} {text}: not an integer.");
}
