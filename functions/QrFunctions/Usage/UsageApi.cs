using System.Globalization;
using QrFunctions.Api;
using QrFunctions.Auth;
using QrFunctions.Storage;

namespace QrFunctions.Usage;

/// <summary>GET /v1/usage: metered billable calls of the caller's organization.</summary>
public static class UsageApi
{
    public static void MapUsage(this RouteGroupBuilder v1) =>
        v1.MapGet("/usage", async (HttpContext context, StorageAccount storage) =>
            {
                var (from, to) = Period(context.Request.Query["from"], context.Request.Query["to"]);
                var groupBy = context.Request.Query["group_by"].ToString() is { Length: > 0 } g ? g : "day";
                if (groupBy is not ("day" or "team" or "key" or "endpoint")) throw ApiProblem.BadRequest("group_by must be day, team, key or endpoint.");
                var rows = await UsageMeter.ReadAsync(storage, context.Caller().OrgId, from, to, groupBy, context.RequestAborted);
                return Envelope.V1List(rows.Select(r => new Dictionary<string, object> { [groupBy] = r.Group, ["calls"] = r.Count }), null);
            })
            .WithName("UsageGet").WithTags("Usage").Requires(Role.Admin)
            .WithSummary("Billable calls per day, team, key or endpoint (from/to: YYYY-MM-DD, at most 366 days)");

    public static (string From, string To) Period(string? from, string? to)
    {
        static DateOnly Parse(string? value, string field) =>
            DateOnly.TryParseExact(value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d)
                ? d : throw ApiProblem.BadRequest($"{field} must be a date YYYY-MM-DD.");
        var f = Parse(from, "from");
        var t = Parse(to, "to");
        if (t < f) throw ApiProblem.BadRequest("from must not be after to.");
        if (t.DayNumber - f.DayNumber > 366) throw ApiProblem.BadRequest("The period is at most 366 days.");
        return (f.ToString("yyyy-MM-dd"), t.ToString("yyyy-MM-dd"));
    }
}
