using System.Globalization;
using LlmFp4.Kit.Models.Loading;

namespace LlmFp4.Kit.Training;

/// <summary>One row of <c>training_log.csv</c>: the state after an optimizer step.</summary>
public sealed record TrainingLogRow(int Step, long Tokens, double TrainLoss, double LearningRate, double GradientNorm, double ElapsedSeconds,
    double? ValidationLoss);

/// <summary>The loss log of a run as CSV: <c>step,tokens,train_loss,lr,grad_norm,elapsed_s,val_loss</c> (val_loss empty between evaluations).</summary>
public static class TrainingLog
{
    public const string Header = "step,tokens,train_loss,lr,grad_norm,elapsed_s,val_loss";

    /// <summary>Writes the whole log atomically; losses, rate and norm round-trip exactly.</summary>
    public static void Write(string path, IEnumerable<TrainingLogRow> rows) =>
        AtomicFile.WriteText(path, writer =>
        {
            writer.WriteLine(Header);
            foreach (var r in rows)
                writer.WriteLine(string.Join(",", r.Step.ToString(CultureInfo.InvariantCulture), r.Tokens.ToString(CultureInfo.InvariantCulture),
                    Exact(r.TrainLoss), Exact(r.LearningRate), Exact(r.GradientNorm), r.ElapsedSeconds.ToString("F1", CultureInfo.InvariantCulture),
                    r.ValidationLoss is { } v ? Exact(v) : ""));
        });

    /// <summary>Reads a log written by <see cref="Write"/>; throws <see cref="InvalidDataException"/> naming the file and line at fault.</summary>
    public static List<TrainingLogRow> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"training log '{path}' not found.", path);
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0] != Header) throw new InvalidDataException($"{path}: not a training log (expected the header '{Header}').");
        var rows = new List<TrainingLogRow>();
        for (int i = 1; i < lines.Length; i++)
        {
            string[] f = lines[i].Split(',');
            try
            {
                if (f.Length != 7) throw new FormatException($"{f.Length} fields instead of 7");
                rows.Add(new TrainingLogRow(int.Parse(f[0], CultureInfo.InvariantCulture), long.Parse(f[1], CultureInfo.InvariantCulture),
                    Parse(f[2]), Parse(f[3]), Parse(f[4]), Parse(f[5]), f[6].Length == 0 ? null : Parse(f[6])));
            }
            catch (FormatException ex)
            {
                throw new InvalidDataException($"{path}, line {i + 1}: {ex.Message}", ex);
            }
        }
        return rows;
    }

    private static string Exact(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static double Parse(string field) => double.Parse(field, NumberStyles.Float, CultureInfo.InvariantCulture);
}
