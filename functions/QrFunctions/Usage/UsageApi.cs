using Microsoft.Azure.Functions.Worker;
using System.Globalization;
using QrFunctions.Api;
using QrFunctions.Auth;
using QrFunctions.Storage;

namespace QrFunctions.Usage;

/// <summary>GET /v1/usage: metered billable calls of the caller's organization.</summary>
[ApiAccess(ApiSurface.V1, Role.Admin), Tags("Usage")]
public sealed class UsageApi(StorageAccount storage)
{
    [Function("UsageGet")]
    [EndpointSummary("Billable calls per day, team, key or endpoint (from/to: YYYY-MM-DD, at most 366 days; without them, the current calendar month so far, UTC)")]
    public async Task<IResult> GetAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/usage")] HttpRequest req)
    {
        var (from, to) = Period(req.Query["from"], req.Query["to"], DateOnly.FromDateTime(DateTime.UtcNow));
        var groupBy = req.Query["group_by"].ToString() is { Length: > 0 } g ? g : "day";
        if (groupBy is not ("day" or "team" or "key" or "endpoint")) throw ApiProblem.BadRequest("group_by must be day, team, key or endpoint.");
        var rows = await UsageMeter.ReadAsync(storage, req.HttpContext.Caller().OrgId, from, to, groupBy, req.HttpContext.RequestAborted);
        return Envelope.V1List(rows.Select(r => new Dictionary<string, object> { [groupBy] = r.Group, ["calls"] = r.Count }), null);
    }

    /// <param name="today">When given, a missing to is today and a missing from the first day of to's month: without either, the current calendar month so far.</param>
    public static (string From, string To) Period(string? from, string? to, DateOnly? today = null)
    {
        static DateOnly Parse(string? value, string field) =>
            DateOnly.TryParseExact(value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d)
                ? d : throw ApiProblem.BadRequest($"{field} must be a date YYYY-MM-DD.");
        var t = string.IsNullOrEmpty(to) && today is { } now ? now : Parse(to, "to");
        var f = string.IsNullOrEmpty(from) && today is not null ? new DateOnly(t.Year, t.Month, 1) : Parse(from, "from");
        if (t < f) throw ApiProblem.BadRequest("from must not be after to.");
        if (t.DayNumber - f.DayNumber > 366) throw ApiProblem.BadRequest("The period is at most 366 days.");
        return (f.ToString("yyyy-MM-dd"), t.ToString("yyyy-MM-dd"));
    }
}
