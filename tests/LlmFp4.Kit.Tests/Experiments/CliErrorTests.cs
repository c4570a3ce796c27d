using System.CommandLine;
using LlmFp4.Kit.Cli;
using LlmFp4.Kit.Tests.Evaluation;
using Spectre.Console;

namespace LlmFp4.Kit.Tests.Experiments;

/// <summary>
/// User errors in the quantizing verbs end with one line and exit code 1, no stack trace (unless --verbose): a missing
/// model, an unknown preset, an unreadable config. Redirects the console (hence the process-wide state collection).
/// </summary>
[Collection(ProcessWideStateCollection.Name)]
public class CliErrorTests
{
    public static TheoryData<string, string> Cases() => new()
    {
        { "reproduce --model {missing}", "Model not found" },
        { "reproduce --model {model} --rows full-precision,fpq:4/4/4,fqp:4/4/4", "Unknown quantization config 'fqp:4/4/4'" },
        { "reproduce --model {model} --config {bad}", "not a valid reproduction config" },
        { "reproduce --model {model} --rows {bad}", "not a valid quantization config" },
        { "eval --model {missing} --tasks perplexity --data-dir {data}", "no such file or folder" },
        { "eval --model {model} --tasks perplexity --data-dir {data} --quant fqp:4/4/4", "Unknown quantization config 'fqp:4/4/4'" },
        { "eval --model {model} --tasks perplexity --data-dir {data} --quant {bad}", "not a valid quantization config" },
        { "calibrate --model {missing} --config fpq:4/4/4", "no such file or folder" },
        { "calibrate --model {model} --config fqp:4/4/4", "Unknown quantization config 'fqp:4/4/4'" },
        { "calibrate --model {model} --config {bad}", "not a valid quantization config" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void User_errors_are_one_line_and_exit_1(string command, string expected)
    {
        using var dir = new TempDirectory();
        dir.File("data/corpus/test.txt", "held-out text");
        string bad = dir.File("bad.json", "{ this is not json");
        string[] args = [.. command.Split(' ').Select(a => a
            .Replace("{missing}", Path.Combine(dir.Path, "no-such-model"))
            .Replace("{model}", dir.Path)
            .Replace("{bad}", bad)
            .Replace("{data}", Path.Combine(dir.Path, "data")))];

        var (exitCode, output) = CliRunner.Run(args);
        Assert.Equal(1, exitCode);
        string line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith("error:", line);
        Assert.Contains(expected, line);

        var (verboseExit, verbose) = CliRunner.Run([.. args, "--verbose"]);
        Assert.Equal(1, verboseExit);
        Assert.Contains(" at ", verbose);
    }
}
