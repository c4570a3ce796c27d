namespace LlmFp4.Kit.Notebooks;

/// <summary>
/// What a notebook's code sees besides its own variables: only <c>display</c>, as in .NET Interactive, so notebooks
/// stay runnable in Polyglot Notebooks. (Parameters come from <see cref="NotebookParameters"/> in the kit.)
/// </summary>
public sealed class NotebookGlobals
{
    internal CellOutputs? Cell { get; set; }

    /// <summary>
    /// Shows <paramref name="value"/> below the cell: kit objects (figures, tables) as HTML, figures also as PNG,
    /// anything else as its ToString().
    /// </summary>
#pragma warning disable IDE1006 // lower-case to match .NET Interactive's display()
    public void display(object? value) =>
        (Cell ?? throw new InvalidOperationException("display() was called after its cell finished (from a background task?)."))
        .Display(value);
#pragma warning restore IDE1006
}
