using System.Text;

namespace LlmFp4.Kit;

/// <summary>Writes a file through a temporary sibling and a rename, so a reader never sees half a file.</summary>
internal static class AtomicFile
{
    /// <summary>
    /// Creates the folder if needed, lets <paramref name="write"/> fill a new temporary file next to
    /// <paramref name="path"/>, flushes it to disk and renames it over <paramref name="path"/>. If writing
    /// fails, the temporary file is removed and any old file at <paramref name="path"/> is left as it was.
    /// </summary>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temp = $"{full}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>As <see cref="Write"/>, through a UTF-8 text writer (no byte-order mark).</summary>
    public static void WriteText(string path, Action<TextWriter> write) => Write(path, stream =>
    {
        using var writer = new StreamWriter(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), leaveOpen: true);
        write(writer);
    });

    /// <summary>Each line followed by '\n', in UTF-8.</summary>
    public static void WriteLines(string path, IEnumerable<string> lines) =>
        WriteText(path, writer =>
        {
            foreach (string line in lines)
            {
                writer.Write(line);
                writer.Write('\n');
            }
        });
}
