using System.Security.Cryptography;

namespace QrFunctions.Storage;

/// <summary>Random, unguessable identifiers: a type prefix and lowercase base-32 (safe in URLs and table keys).</summary>
public static class Ids
{
    private const string Alphabet = "abcdefghijkmnpqrstuvwxyz23456789"; // no 0/o/1/l: people retype these

    public static string New(string prefix, int length = 16) => $"{prefix}_{Random(length)}";

    /// <summary>An id in the same alphabet made from <paramref name="seed"/> (SHA-256): the same seed gives the same id, so a retried step names the same thing.</summary>
    public static string Derived(string seed, int length)
    {
        var hash = SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(seed));
        return string.Create(length, hash, static (span, b) =>
        {
            for (var i = 0; i < span.Length; i++) span[i] = Alphabet[b[i] & 31];
        });
    }

    public static string Random(int length)
    {
        Span<byte> bytes = stackalloc byte[length];
        RandomNumberGenerator.Fill(bytes);
        return string.Create(length, bytes.ToArray(), static (span, b) =>
        {
            for (var i = 0; i < span.Length; i++) span[i] = Alphabet[b[i] & 31];
        });
    }
}

/// <summary>Epoch milliseconds, the API's only time format; one clock so tests can reason about it.</summary>
public static class Clock
{
    public static long NowMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    /// <summary>Unix time in microseconds: orders two answers of one visitor that fall in the same millisecond.</summary>
    public static long NowMicroseconds() => (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks / 10;
}
