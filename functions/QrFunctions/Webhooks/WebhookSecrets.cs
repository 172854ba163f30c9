using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using QrFunctions.Api;

namespace QrFunctions.Webhooks;

/// <summary>
/// Signing secrets at rest: AES-256-GCM under a key ring from configuration, which the storage account never
/// holds (in Azure each key is a Key Vault reference: infra/, docs/deploy.md). Webhooks:SecretKeys:{id} is the
/// base64 of a 32-byte key, Webhooks:SecretKeyId the id new secrets are sealed with (optional with one key).
/// A stored secret is "v1:{keyId}:{base64url(nonce ‖ ciphertext ‖ tag)}" and its associated data is
/// "{teamId}/{subscriptionId}", so a value copied to another subscription does not open. Values stored before
/// encryption ("whsec_…") still open as they are and are sealed on their next delivery or by
/// `operator migrate-webhook-secrets`, which also moves every secret to the current key (rotation, docs/webhooks.md).
/// </summary>
public sealed partial class WebhookSecrets
{
    private const string Version = "v1";
    private const int NonceBytes = 12, TagBytes = 16, KeyBytes = 32;
    private readonly Dictionary<string, byte[]> _keys = new(StringComparer.Ordinal);
    private readonly List<string> _problems = [];

    /// <summary>The id new secrets are sealed with; null when the ring is not usable (then <see cref="Seal"/> answers 503).</summary>
    public string? CurrentKeyId { get; }

    public WebhookSecrets(IConfiguration configuration)
    {
        foreach (var entry in configuration.GetSection("Webhooks:SecretKeys").GetChildren())
        {
            if (!KeyIdPattern().IsMatch(entry.Key)) { _problems.Add($"key id '{entry.Key}' is not 1-32 of A-Z a-z 0-9 - _"); continue; }
            var key = Decode(entry.Value);
            if (key is null)
            {
                _problems.Add(entry.Value?.StartsWith("@Microsoft.KeyVault", StringComparison.OrdinalIgnoreCase) == true
                    ? $"Webhooks:SecretKeys:{entry.Key} is an unresolved Key Vault reference (does the secret exist, may the app's identity read it?)"
                    : $"Webhooks:SecretKeys:{entry.Key} is not the base64 of {KeyBytes} bytes");
                continue;
            }
            _keys[entry.Key] = key;
        }
        var current = configuration["Webhooks:SecretKeyId"] is { Length: > 0 } id ? id : _keys.Count == 1 ? _keys.Keys.Single() : null;
        if (current is not null && _keys.ContainsKey(current)) CurrentKeyId = current;
        else _problems.Add(current is null
            ? "no usable key: set Webhooks:SecretKeys:{id} to the base64 of 32 random bytes (and Webhooks:SecretKeyId when there are several)"
            : $"Webhooks:SecretKeyId '{current}' names no usable key");
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,32}$")]
    private static partial Regex KeyIdPattern();

    private static byte[]? Decode(string? base64)
    {
        try { return Convert.FromBase64String(base64 ?? "") is { Length: KeyBytes } key ? key : null; }
        catch (FormatException) { return null; }
    }

    /// <summary>What is wrong with the configured ring, for logs and the 503 (never a key).</summary>
    public string Problems => string.Join("; ", _problems);

    private static byte[] Context(string teamId, string subscriptionId) => Encoding.UTF8.GetBytes($"{teamId}/{subscriptionId}");

    public string Seal(string teamId, string subscriptionId, string secret)
    {
        if (CurrentKeyId is null) throw new ApiProblem(503, "Webhook signing secrets cannot be stored: the service's secret key is not configured.");
        var plaintext = Encoding.UTF8.GetBytes(secret);
        var sealedBytes = new byte[NonceBytes + plaintext.Length + TagBytes];
        var nonce = sealedBytes.AsSpan(0, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_keys[CurrentKeyId], TagBytes);
        aes.Encrypt(nonce, plaintext, sealedBytes.AsSpan(NonceBytes, plaintext.Length), sealedBytes.AsSpan(NonceBytes + plaintext.Length), Context(teamId, subscriptionId));
        return $"{Version}:{CurrentKeyId}:{Base64Url.EncodeToString(sealedBytes)}";
    }

    /// <summary>The secret a stored value holds (a value from before encryption is the secret itself).</summary>
    /// <exception cref="CryptographicException">The value's key is not configured, or it was altered or moved to another subscription.</exception>
    public string Open(string teamId, string subscriptionId, string stored)
    {
        if (!stored.StartsWith(Version + ":", StringComparison.Ordinal)) return stored; // stored before encryption
        var parts = stored.Split(':');
        if (parts.Length != 3) throw new CryptographicException("Malformed sealed webhook secret.");
        if (!_keys.TryGetValue(parts[1], out var key))
            throw new CryptographicException($"Webhook secret key '{parts[1]}' is not configured (Webhooks:SecretKeys:{parts[1]}). {Problems}");
        byte[] sealedBytes;
        try { sealedBytes = Base64Url.DecodeFromChars(parts[2]); }
        catch (FormatException ex) { throw new CryptographicException("Malformed sealed webhook secret.", ex); }
        if (sealedBytes.Length < NonceBytes + TagBytes) throw new CryptographicException("Malformed sealed webhook secret.");
        var plaintext = new byte[sealedBytes.Length - NonceBytes - TagBytes];
        using var aes = new AesGcm(key, TagBytes);
        aes.Decrypt(sealedBytes.AsSpan(0, NonceBytes), sealedBytes.AsSpan(NonceBytes, plaintext.Length), sealedBytes.AsSpan(NonceBytes + plaintext.Length), plaintext, Context(teamId, subscriptionId));
        return Encoding.UTF8.GetString(plaintext);
    }

    /// <summary>The id of the key a stored value is sealed with; null for a value stored in plaintext.</summary>
    public static string? KeyIdOf(string stored) =>
        stored.StartsWith(Version + ":", StringComparison.Ordinal) && stored.Split(':') is { Length: 3 } parts ? parts[1] : null;

    /// <summary>Stored in plaintext or under a key other than the current one: to be sealed again when the ring allows it.</summary>
    public bool NeedsSealing(string stored) => CurrentKeyId is not null && KeyIdOf(stored) != CurrentKeyId;
}
