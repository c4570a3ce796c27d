using System.Text;

namespace LlmFp4.Kit.Evaluation;

/// <summary>Writes a file through a temporary sibling and a rename, so a reader never sees half of it.</summary>
static class AtomicFile
{
    public static void WriteLines(string path, IEnumerable<string> lines) =>
        Write(path, writer => { foreach (string line in lines) { writer.Write(line); writer.Write('\n'); } });

    public static void Write(string path, Action<TextWriter> write)
    {
        string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        string temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var writer = new StreamWriter(temp, append: false, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false)))
                write(writer);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
                File.Delete(temp);
        }
    }
}
