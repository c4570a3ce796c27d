using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Evaluation;

/// <summary>
/// One number of an evaluation, traceable to what produced it.
/// </summary>
/// <param name="Model">Model name or path.</param>
/// <param name="QuantConfig">The quantization config as JSON, or null for the full-precision model.</param>
/// <param name="Task">Task registry name (stand-ins are shown with a "(stand-in)" label, see <see cref="StandInTasks.DisplayName"/>).</param>
/// <param name="Metric">e.g. <c>acc</c>, <c>acc_norm</c>, <c>perplexity</c>.</param>
/// <param name="Value">The metric's value (accuracies as fractions in [0, 1]).</param>
/// <param name="Stderr">Standard error, null where undefined.</param>
/// <param name="N">Examples scored.</param>
/// <param name="Seed">Seed of the run (calibration, sampling) that produced the model setting.</param>
/// <param name="WallTimeSeconds">Wall time of the whole task (all its metrics).</param>
/// <param name="KitVersion">Version of the kit that computed it.</param>
/// <param name="Provenance">Commit and GEMM backend besides the version (null in results written before it was recorded).</param>
public sealed record EvalResult(string Model, string? QuantConfig, string Task, string Metric, double Value, double? Stderr,
    int N, int Seed, double WallTimeSeconds, string KitVersion, Provenance? Provenance = null);

/// <summary>Reads and writes <see cref="EvalResult"/> lists as JSON lines and CSV, always through a temp file and rename.</summary>
public static class EvalResultFiles
{
    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    static readonly string[] CsvHeader = ["model", "quant_config", "task", "metric", "value", "stderr", "n", "seed", "wall_time_s", "kit_version", "commit", "gemm_backend", "gemm_version"];

    /// <summary>Writes one camelCase JSON object per result to <paramref name="path"/>, through a temporary file.</summary>
    public static void WriteJsonLines(string path, IEnumerable<EvalResult> results) =>
        AtomicFile.WriteLines(path, results.Select(r => JsonSerializer.Serialize(r, Json)));

    /// <summary>Reads results written by <see cref="WriteJsonLines"/>.</summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">A line that is not a result record; the message names the file and line.</exception>
    public static IReadOnlyList<EvalResult> ReadJsonLines(string path) =>
        JsonlRecords.Read(path, r =>
        {
            try
            {
                return r.Root.Deserialize<EvalResult>(Json)!;
            }
            catch (JsonException ex)
            {
                throw new InvalidDataException($"{path}:{r.Line}: not a result record ({ex.Message})", ex);
            }
        }).Items;

    /// <summary>CSV with a header row; numbers in invariant culture, round-trip precision; fields quoted where needed.</summary>
    public static void WriteCsv(string path, IEnumerable<EvalResult> results) =>
        AtomicFile.WriteLines(path, results.Select(r => string.Join(",", new[]
        {
            r.Model, r.QuantConfig ?? "", r.Task, r.Metric, Number(r.Value), r.Stderr is double s ? Number(s) : "",
            r.N.ToString(CultureInfo.InvariantCulture), r.Seed.ToString(CultureInfo.InvariantCulture), Number(r.WallTimeSeconds), r.KitVersion,
            r.Provenance?.Commit ?? "", r.Provenance?.GemmBackend ?? "", r.Provenance?.GemmVersion ?? "",
        }.Select(Quote))).Prepend(string.Join(",", CsvHeader)));

    static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    static string Quote(string field) =>
        field.IndexOfAny([',', '"', '\n', '\r']) < 0 ? field : '"' + field.Replace("\"", "\"\"") + '"';
}
