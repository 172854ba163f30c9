using System.Globalization;
using System.Text;
using CsvHelper;
using CsvHelper.Configuration;

namespace QrFunctions.Exports;

/// <summary>
/// A CSV answer written while its rows are read: CsvHelper (RFC 4180 quoting) writes into a small text buffer that goes out
/// with an asynchronous write whenever it passes <see cref="FlushBytes"/> (the response allows no synchronous writes), so the
/// memory an export takes is one buffer and one group of rows, whatever the file's size.
/// Formula injection: a cell starting with =, +, -, @, a tab or a carriage return gets a leading apostrophe (and is quoted), so a
/// spreadsheet shows it as text instead of running it (OWASP's advice; CsvHelper's InjectionOptions.Escape).
/// </summary>
public sealed class CsvResponse : IAsyncDisposable
{
    public const int FlushBytes = 16 * 1024;
    private static readonly CsvConfiguration Config = new(CultureInfo.InvariantCulture) { InjectionOptions = InjectionOptions.Escape, NewLine = "\r\n" };

    private readonly HttpResponse _response;
    private readonly StringWriter _buffer = new(CultureInfo.InvariantCulture);
    private readonly CsvWriter _csv;

    private CsvResponse(HttpResponse response)
    {
        _response = response;
        _csv = new CsvWriter(_buffer, Config);
    }

    /// <summary>Sets the headers (an attachment named <paramref name="fileName"/>) and writes the header row.</summary>
    public static async Task<CsvResponse> StartAsync(HttpContext context, string fileName, IEnumerable<string> columns)
    {
        context.Response.ContentType = "text/csv; charset=utf-8";
        context.Response.Headers.ContentDisposition = $"attachment; filename=\"{fileName}\"";
        var csv = new CsvResponse(context.Response);
        await csv.RowAsync(columns);
        return csv;
    }

    public async ValueTask RowAsync(IEnumerable<string?> cells)
    {
        foreach (var cell in cells) _csv.WriteField(cell ?? "");
        _csv.NextRecord();
        if (_buffer.GetStringBuilder().Length >= FlushBytes) await FlushAsync();
    }

    public async ValueTask FlushAsync()
    {
        _csv.Flush();
        var text = _buffer.GetStringBuilder();
        if (text.Length == 0) return;
        await _response.Body.WriteAsync(Encoding.UTF8.GetBytes(text.ToString()), _response.HttpContext.RequestAborted);
        text.Clear();
        await _response.Body.FlushAsync(_response.HttpContext.RequestAborted);
    }

    public async ValueTask DisposeAsync()
    {
        await _csv.DisposeAsync();
        await _buffer.DisposeAsync();
    }
}
