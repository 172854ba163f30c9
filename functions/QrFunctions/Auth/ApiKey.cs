using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Data.Tables;
using QrFunctions.Storage;

namespace QrFunctions.Auth;

/// <summary>
/// apikeys table, PartitionKey = keyId (the client id), RowKey = "key": one point read authenticates a call.
/// Only a SHA-256 of the secret is stored; secrets are 256 random bits, so a fast hash is enough
/// (no password-style stretching needed) and verification stays cheap on every request.
/// </summary>
public sealed class ApiKey : ITableEntity
{
    public const string Row = "key";

    public string PartitionKey { get; set; } = "";
    public string RowKey { get; set; } = Row;
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public string Id => PartitionKey;
    /// <summary>Empty for operator keys.</summary>
    public string OrgId { get; set; } = "";
    /// <summary>The team a call acts in when it names none; the only team of a workspace key.</summary>
    public string HomeTeamId { get; set; } = "";
    /// <summary>user | workspace | operator</summary>
    public string Scope { get; set; } = KeyScopes.User;
    /// <summary>For user keys: the member whose role in the named team the key acts with.</summary>
    public string? UserEmail { get; set; }
    public string Name { get; set; } = "";
    public string SecretHash { get; set; } = "";
    public long CreatedAt { get; set; }
    public string CreatedBy { get; set; } = "";
    public long? ExpiresAt { get; set; }
    public bool Revoked { get; set; }
    public long? RevokedAt { get; set; }
    public long? LastUsedAt { get; set; }
}

public static class KeyScopes
{
    public const string User = "user";
    public const string Workspace = "workspace";
    public const string Operator = "operator";
}

/// <summary>A key as handed out once: the client id / secret pair (surface A) and the Bearer token (surface B) carry the same secret.</summary>
public sealed record IssuedKey(string KeyId, string Secret)
{
    public const string TokenPrefix = "qr3_sk_";
    public string BearerToken => $"{TokenPrefix}{KeyId}.{Secret}";
}

public static class KeySecrets
{
    public static IssuedKey Issue() => new(Ids.New("key"), Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))
        .TrimEnd('=').Replace('+', '-').Replace('/', '_'));

    public static string Hash(string secret) => Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    public static bool Matches(string secret, string storedHash)
    {
        Span<byte> expected = stackalloc byte[32];
        if (!Convert.TryFromBase64String(storedHash, expected, out var n) || n != 32) return false;
        Span<byte> actual = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(secret), actual);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    /// <summary>Splits "qr3_sk_{keyId}.{secret}"; key ids contain no dot, secrets are base64url.</summary>
    public static bool TryParseBearer(string token, out string keyId, out string secret)
    {
        keyId = secret = "";
        if (!token.StartsWith(IssuedKey.TokenPrefix, StringComparison.Ordinal)) return false;
        var rest = token.AsSpan(IssuedKey.TokenPrefix.Length);
        var dot = rest.IndexOf('.');
        if (dot <= 0 || dot == rest.Length - 1) return false;
        keyId = rest[..dot].ToString();
        secret = rest[(dot + 1)..].ToString();
        return true;
    }

    /// <summary>The first characters of the Bearer token, enough to recognise a key in a list; never the secret.</summary>
    public static string DisplayPrefix(string keyId) => $"{IssuedKey.TokenPrefix}{keyId}";
}
