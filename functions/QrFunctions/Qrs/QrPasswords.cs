using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using QrFunctions.Scans;

namespace QrFunctions.Qrs;

/// <summary>
/// A code's password (settings.password with settings.passwordEnabled) is never stored nor shown: the stored
/// settings hold settings.passwordHash = "pbkdf2-sha256${iterations}${salt}${hash}" (PBKDF2-HMAC-SHA256, a
/// random 16-byte salt per password, 32-byte hash, base64), and the API answers "password": null with
/// "passwordSet": true. Codes stored before hashing kept the plaintext in settings.password; they are still
/// unlocked with it, and hashed by their next read or write through the API or by `operator migrate-passwords`.
/// </summary>
public static class QrPasswords
{
    /// <summary>
    /// 100,000 iterations: an unlock costs one derivation, about 40 ms of CPU (bench/UnlockBench; docs/scans.md), so
    /// a scan stays fast while every offline guess costs the same. Stored per hash, so raising it later leaves
    /// existing hashes working.
    /// </summary>
    public const int Iterations = 100_000;
    public const string HashField = "passwordHash";
    public const string SetField = "passwordSet";
    private const string Scheme = "pbkdf2-sha256";
    private const int SaltBytes = 16, HashBytes = 32, MaxIterations = 10_000_000;

    public static string Hash(string password, int iterations = Iterations)
    {
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, HashBytes);
        return $"{Scheme}${iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}";
    }

    /// <summary>Whether <paramref name="submitted"/> is the password <paramref name="stored"/> was made from (constant time); false for anything malformed.</summary>
    public static bool Verify(string submitted, string stored)
    {
        var parts = stored.Split('$');
        if (parts.Length != 4 || parts[0] != Scheme || !int.TryParse(parts[1], out var iterations) || iterations is < 1 or > MaxIterations) return false;
        byte[] salt, expected;
        try { (salt, expected) = (Convert.FromBase64String(parts[2]), Convert.FromBase64String(parts[3])); }
        catch (FormatException) { return false; }
        if (salt.Length == 0 || expected.Length == 0) return false;
        var actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(submitted), salt, iterations, HashAlgorithmName.SHA256, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    private static bool IsHash(JsonNode? node) => QrContent.TextOf(node).StartsWith(Scheme + "$", StringComparison.Ordinal);

    /// <summary>A scan must ask for a password: protection is on and a password (hashed, or plaintext of an unmigrated code) is set.</summary>
    public static bool IsProtected(JsonObject settings) =>
        QrContent.Flag(settings["passwordEnabled"]) && (IsHash(settings[HashField]) || QrContent.TextOf(settings["password"]).Length > 0);

    /// <summary>The unlock check of a protected code; an unmigrated code is compared with its plaintext, in constant time too.</summary>
    public static bool Matches(JsonObject settings, string submitted)
    {
        if (IsHash(settings[HashField])) return Verify(submitted, QrContent.TextOf(settings[HashField]));
        var legacy = QrContent.TextOf(settings["password"]);
        return legacy.Length > 0
            && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(submitted)), SHA256.HashData(Encoding.UTF8.GetBytes(legacy)));
    }

    /// <summary>
    /// Makes <paramref name="doc"/> ready to store: no plaintext, and a hash exactly while protection is on. A password
    /// sent replaces the hash; none sent keeps the doc's own hash, else <paramref name="previous"/>'s (the stored code an
    /// update replaces); protection off removes it.
    /// </summary>
    public static void Protect(JsonObject doc, JsonObject? previous)
    {
        if (doc["settings"] is not JsonObject settings) return;
        var sent = QrContent.TextOf(settings["password"]);
        settings.Remove("password");
        settings.Remove(SetField);
        if (!QrContent.Flag(settings["passwordEnabled"]))
        {
            settings.Remove(HashField);
            return;
        }
        if (sent.Length > 0) settings[HashField] = Hash(sent);
        else if (IsHash(settings[HashField])) { } // the doc's own (a copy, a restored approved version, an unchanged code)
        else if (previous?["settings"] is JsonObject before && IsHash(before[HashField])) settings[HashField] = before[HashField]!.DeepClone();
        else if (previous?["settings"] is JsonObject legacy && QrContent.TextOf(legacy["password"]) is { Length: > 0 } plain) settings[HashField] = Hash(plain);
        else settings.Remove(HashField);
    }

    /// <summary>Hashes a stored plaintext password in place; true when <paramref name="doc"/> changed.</summary>
    public static bool MigrateLegacy(JsonObject? doc)
    {
        if (doc?["settings"] is not JsonObject settings || (!settings.ContainsKey("password") && !settings.ContainsKey(SetField))) return false;
        Protect(doc, null);
        return true;
    }

    /// <summary>What the API and webhooks show: "password": null and "passwordSet" instead of anything secret.</summary>
    public static JsonObject ForView(JsonObject doc)
    {
        if (doc["settings"] is not JsonObject settings) return doc;
        var set = IsProtected(settings);
        settings.Remove(HashField);
        settings.Remove("password");
        if (set) settings["password"] = null;
        settings[SetField] = set;
        return doc;
    }
}
