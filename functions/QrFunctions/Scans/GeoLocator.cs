using System.Net;
using MaxMind.Db;

namespace QrFunctions.Scans;

/// <summary>
/// Country and city from a MaxMind GeoLite2/GeoIP2 City database file (QrFunctions:GeoLite2Path), used when
/// no trusted edge header gave them. The file is memory-mapped once, on the first scan that needs it; looked
/// up with the raw address, which is never stored. Without a configured file it answers nothing.
/// </summary>
public sealed class GeoLocator(IConfiguration configuration, ILogger<GeoLocator> log) : IDisposable
{
    private readonly Lazy<Reader?> _reader = new(() =>
    {
        var path = configuration["QrFunctions:GeoLite2Path"];
        if (string.IsNullOrWhiteSpace(path)) return null;
        try { return new Reader(path, FileAccessMode.MemoryMapped); }
        catch (Exception ex) when (ex is IOException or InvalidDatabaseException or UnauthorizedAccessException)
        {
            log.LogError(ex, "GeoLite2 database {Path} cannot be read; scans get no country/city from it", path);
            return null;
        }
    });

    public (string Country, string City) Locate(IPAddress? address)
    {
        if (address is null || _reader.Value is not { } reader) return ("", "");
        try
        {
            var record = reader.Find<Dictionary<string, object>>(address);
            if (record is null) return ("", "");
            var country = (record.GetValueOrDefault("country") as Dictionary<string, object>)?.GetValueOrDefault("iso_code") as string ?? "";
            var names = ((record.GetValueOrDefault("city") as Dictionary<string, object>)?.GetValueOrDefault("names") as Dictionary<string, object>);
            return (country, names?.GetValueOrDefault("en") as string ?? "");
        }
        catch (Exception ex) when (ex is InvalidDatabaseException or InvalidCastException or ArgumentException)
        {
            return ("", "");
        }
    }

    public void Dispose()
    {
        if (_reader.IsValueCreated) _reader.Value?.Dispose();
    }
}
