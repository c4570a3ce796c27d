using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LlmFp4.Kit.Formats;
using Spectre.Console;

namespace LlmFp4.Kit.Cli.Commands;

/// <summary>`llmfp4 formats`: list the number-format presets; `llmfp4 formats show NAME`: one format's table and values.</summary>
public static class FormatsCommand
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static Command Create()
    {
        var command = new Command("formats", "List the number-format presets (FP and block-scaled).");
        command.SetAction(_ =>
        {
            ListPresets();
            return 0;
        });
        command.Subcommands.Add(CreateShow());
        return command;
    }

    private static Command CreateShow()
    {
        var name = new Argument<string>("name") { Description = "A preset (E2M1, E1M2, E3M0, E2M3, E3M2, E4M3, E5M2, Half, BFloat16) or ExMy(b=B)." };
        var bias = new Option<double?>("--bias") { Description = "Replace the exponent bias (may be non-integer)." };
        var max = new Option<double?>("--max") { Description = "Pick the bias whose largest value is this (LLM-FP4 relation; all codes finite)." };
        var json = new Option<bool>("--json") { Description = "Print a JSON object with the format's fields and every representable value." };
        var show = new Command("show", "Show one format's table and every representable non-negative value.") { name, bias, max, json };
        show.SetAction(parse =>
        {
            var format = Resolve(parse.GetValue(name)!, parse.GetValue(bias), parse.GetValue(max));
            if (parse.GetValue(json))
                Console.Out.WriteLine(JsonSerializer.Serialize(FormatReport.Of(format), JsonOptions));
            else
                ShowTable(format);
            return 0;
        });
        return show;
    }

    /// <summary>The preset (or ExMy(b=B) text) with its bias replaced by --bias, or chosen from --max.</summary>
    public static FpFormat Resolve(string name, double? bias, double? maxValue)
    {
        if (bias is not null && maxValue is not null)
            throw new ArgumentException("Give --bias or --max, not both: the maximum value determines the bias.");
        var format = FpFormat.Parse(name);
        if (bias is { } b)
            return format.WithBias(b);
        if (maxValue is { } m)
            return FpFormat.FromMaxValue(format.ExponentBits, format.MantissaBits, m);
        return format;
    }

    private static void ListPresets()
    {
        var table = new Table().Title("Floating-point presets");
        foreach (var header in new[] { "name", "e", "m", "bias", "bits", "max", "min subnormal", "specials" })
            table.AddColumn(new TableColumn(header).RightAligned());
        foreach (var presetName in FpFormat.PresetNames)
        {
            var f = FpFormat.Parse(presetName);
            table.AddRow(presetName, Text(f.ExponentBits), Text(f.MantissaBits), Number(f.Bias), Text(f.BitWidth), Number(f.MaxValue), Number(f.MinSubnormal), f.Specials.ToString());
        }
        AnsiConsole.Write(table);

        var blocks = new Table().Title("Block-scaled formats (fake-quant along rows)");
        foreach (var header in new[] { "name", "element", "block", "scale", "bits/element" })
            blocks.AddColumn(new TableColumn(header).RightAligned());
        foreach (var b in BlockScaledFormat.Presets)
        {
            string scale = b.ScaleKind == BlockScaleKind.PowerOfTwo ? "E8M0 power of two" : "E4M3 × fp32 tensor scale";
            blocks.AddRow(b.Name, Markup.Escape(b.ElementFormat.ToString()), Text(b.BlockSize), scale, Number(b.BitsPerElement));
        }
        AnsiConsole.Write(blocks);
    }

    private static void ShowTable(FpFormat format)
    {
        var table = new Table().Title(Markup.Escape(format.ToString())).AddColumn("field").AddColumn(new TableColumn("value").RightAligned());
        table.AddRow("exponent bits", Text(format.ExponentBits));
        table.AddRow("mantissa bits", Text(format.MantissaBits));
        table.AddRow("bias", Number(format.Bias));
        table.AddRow("bits", Text(format.BitWidth));
        table.AddRow("max", Number(format.MaxValue));
        table.AddRow("min normal", Number(format.MinNormal));
        table.AddRow("min subnormal", Number(format.MinSubnormal));
        table.AddRow("specials", format.Specials.ToString());
        AnsiConsole.Write(table);

        var values = format.Values;
        AnsiConsole.MarkupLineInterpolated($"[bold]{values.Count} non-negative values[/] (each also negated):");
        const int perLine = 8;
        var grid = new Grid();
        for (int c = 0; c < perLine; c++)
            grid.AddColumn(new GridColumn().RightAligned());
        for (int start = 0; start < values.Count; start += perLine)
        {
            var cells = new string[perLine];
            for (int c = 0; c < perLine; c++)
                cells[c] = start + c < values.Count ? Number(values[start + c]) : "";
            grid.AddRow(cells);
        }
        AnsiConsole.Write(grid);
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Number(double value) => value.ToString("G7", CultureInfo.InvariantCulture);

    /// <summary>The JSON shape of `formats show --json`.</summary>
    public sealed record FormatReport(string Name, int ExponentBits, int MantissaBits, double Bias, string Specials, int BitWidth,
        double MaxValue, double MinNormal, double MinSubnormal, IReadOnlyList<double> Values)
    {
        public static FormatReport Of(FpFormat f) =>
            new(f.ToString(), f.ExponentBits, f.MantissaBits, f.Bias, f.Specials.ToString(), f.BitWidth, f.MaxValue, f.MinNormal, f.MinSubnormal, f.Values);
    }
}
