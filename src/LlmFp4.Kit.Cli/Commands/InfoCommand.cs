using System.CommandLine;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using LlmFp4.Kit.Plotting;
using LlmFp4.Kit.Tensors;
using Spectre.Console;

namespace LlmFp4.Kit.Cli.Commands;

/// <summary>`llmfp4 info`: what this installation runs on: versions, SIMD, GEMM backend, optional pieces.</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var command = new Command("info", "Show the kit version, .NET runtime, CPU SIMD support, GEMM backend and optional pieces found.");
        command.SetAction(_ =>
        {
            var table = new Table().AddColumns("", "");
            table.HideHeaders();
            foreach (var (key, value) in Facts())
                table.AddRow(Markup.Escape(key), Markup.Escape(value));
            AnsiConsole.Write(table);
            return 0;
        });
        return command;
    }

    /// <summary>The rows of the report, in order.</summary>
    public static IEnumerable<(string Key, string Value)> Facts()
    {
        static string YesNo(bool value) => value ? "yes" : "no";
        yield return ("LlmFp4.Kit", KitInfo.Version);
        yield return ("built from commit", KitInfo.Commit ?? "unknown (built outside a git checkout)");
        yield return (".NET runtime", $"{RuntimeInformation.FrameworkDescription} ({RuntimeInformation.RuntimeIdentifier})");
        yield return ("OS", RuntimeInformation.OSDescription);
        yield return ("CPU cores", Environment.ProcessorCount.ToString());
        yield return ("Vector512 accelerated", YesNo(Vector512.IsHardwareAccelerated));
        yield return ("Vector256 accelerated", YesNo(Vector256.IsHardwareAccelerated));
        yield return ("GEMM backend", Gemm.Backend.Name);
        yield return ("GEMM backend chosen because", Gemm.BackendReason);
        yield return ("GEMM results fixed by", Gemm.Backend.Version);
        yield return ("Chromium (PNG figures)", FigureExport.ChromiumPath ?? "not found (Debian: apt-get install chromium, or set " + FigureExport.ChromiumVariable + ")");
        yield return ("plotly.js (figures)", FigureExport.PlotlyJsPath ?? FigureExport.PlotlyJsMissingMessage);
    }
}
