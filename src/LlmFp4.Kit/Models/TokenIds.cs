using System.Text.Json;
using System.Text.Json.Serialization;

namespace LlmFp4.Kit.Models;

/// <summary>
/// A config.json special-token entry: one id, or a list (Llama 3.1's <c>eos_token_id = [128001, 128008, 128009]</c>:
/// generation stops at any of them). Written back in the form it was read.
/// </summary>
[JsonConverter(typeof(TokenIdsJsonConverter))]
public sealed class TokenIds : IEquatable<TokenIds>
{
    private readonly int[] _ids;
    private readonly bool _list;

    private TokenIds(int[] ids, bool list)
    {
        if (ids.Length == 0) throw new ArgumentException("A token id list needs at least one id.", nameof(ids));
        _ids = ids;
        _list = list;
    }

    /// <summary>A list of ids, written as a JSON array.</summary>
    public static TokenIds List(params int[] ids) => new([.. ids], list: true);

    /// <summary>A single id, written as a JSON number.</summary>
    public static implicit operator TokenIds(int id) => new([id], list: false);

    /// <summary>The ids, in the order given (one for a single id).</summary>
    public IReadOnlyList<int> Ids => _ids;

    /// <summary>The first id (the one a single-id format such as GGUF keeps).</summary>
    public int First => _ids[0];

    /// <summary>Whether <paramref name="id"/> is one of the ids (e.g. any EOS stops generation).</summary>
    public bool Contains(int id) => Array.IndexOf(_ids, id) >= 0;

    /// <inheritdoc/>
    /// <remarks>Equal when the ids and the form (single id or list) agree.</remarks>
    public bool Equals(TokenIds? other) => other is not null && _list == other._list && _ids.AsSpan().SequenceEqual(other._ids);
    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as TokenIds);
    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(_list, _ids.Length, _ids[0]);
    /// <summary>The id, or "[a, b, …]" for a list.</summary>
    public override string ToString() => _list ? $"[{string.Join(", ", _ids)}]" : _ids[0].ToString(System.Globalization.CultureInfo.InvariantCulture);

    private sealed class TokenIdsJsonConverter : JsonConverter<TokenIds>
    {
        public override TokenIds Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out int id))
                return id;
            if (reader.TokenType == JsonTokenType.StartArray)
            {
                var ids = new List<int>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    ids.Add(reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out int item) ? item
                        : throw new JsonException("a token id list must hold integers."));
                return ids.Count > 0 ? new TokenIds([.. ids], list: true) : throw new JsonException("a token id list must not be empty.");
            }
            throw new JsonException("a token id must be an integer or a list of integers.");
        }

        public override void Write(Utf8JsonWriter writer, TokenIds value, JsonSerializerOptions options)
        {
            if (!value._list)
            {
                writer.WriteNumberValue(value.First);
                return;
            }
            writer.WriteStartArray();
            foreach (int id in value._ids) writer.WriteNumberValue(id);
            writer.WriteEndArray();
        }
    }
}
