using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using QrFunctions.Auth;
using QrFunctions.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace QrFunctions.Tests.Api;

/// <summary>
/// Walks /openapi/v1.json and sends every operation a fixed corpus of hostile requests with an owner key of an Enterprise
/// organization of its own: hostile ids in every path parameter, hostile query strings, bodies that are not JSON objects,
/// not Unicode, too deep, too large, of the wrong types or with repeated keys, wrong content types, ids in bodies that Table
/// Storage cannot hold, team headers that cannot be teams, and wrong methods. Every request is built to be refused, so
/// besides "no 5xx, every error in its surface's envelope" the test can check that nothing was written.
/// </summary>
public class HostileInputFuzzTests(HostileInputFuzzTests.FuzzService service, ITestOutputHelper output) : IClassFixture<HostileInputFuzzTests.FuzzService>
{
    /// <summary>The public availability check is limited per client address; the fuzzer is one address, and 429s would hide answers.</summary>
    public sealed class FuzzService : TestService
    {
        protected override IEnumerable<string> Settings => ["--QrFunctions:AvailabilityBurst=1000000", "--QrFunctions:AvailabilityPerSecond=1000000"];
    }

    /// <summary>A valid value that names nothing: where it stands in a path, the request is refused as not found.</summary>
    private const string Missing = "fuzz-none";

    /// <summary>Ids Table Storage cannot hold as keys ('/' arrives as %2F, which the server leaves encoded): refused wherever an id is read.</summary>
    private static readonly string[] KeyInvalidIds =
    [
        "a/b", "a\\b", "a#b", "a?b", "\0", "a\0", "a\u0001b", "a\tb", "a\u001Fb", "a\u007Fb", "a\u0085b", "a\u009Fb", new string('x', 1025), new string('y', 300),
    ];

    /// <summary>Valid keys that cannot name anything: refused where they stand in a path.</summary>
    private static readonly string[] OddIds =
    [
        "..", "../../etc/passwd", "%00", "a%2Fb", "' or PartitionKey ne '", "' or '1' eq '1", "-1", "99999999999999999999999999", "1e400", "2024-02-30", "\u00e9\u4e2d", " ", "null",
    ];

    private static readonly string[] QueryStrings =
    [
        "?limit=-1&page=99999999999999999999&fromTime=-1&from=-5&to=1e400&startTime=-9223372036854775809",
        "?from=2024-02-30&to=2024-13-45&group_by=%00&sortBy=%27%20or%20PartitionKey%20ne%20%27&sortOrder=sideways&download=vcf&limit=0",
        "?search=" + Uri.EscapeDataString("\0\u0001\u007f\u0085' or PartitionKey ne '" + new string('s', 4000)) + "&cursor=%00%01%FF&email=a%2Fb%00%40x.example"
            + "&resource_id=%27%20or%20PartitionKey%20ne%20%27&resource_type=%01&action=..&page=-1",
    ];

    /// <summary>Operations that read ids in their body, and where: the document has no request schemas, so they are named here.</summary>
    private static readonly Dictionary<string, string[]> BodyIds = new()
    {
        ["QrsCreate"] = ["templateId", "folderId", "folderIds[]"],
        ["QrsUpdate"] = ["templateId", "folderId", "folderIds[]"],
        ["QrsBulkCreate"] = ["codes[].templateId", "codes[].folderId", "codes[].folderIds[]"],
        ["AnalyticsOverviews"] = ["qrIds[]"],
        ["AnalyticsDetailedAll"] = ["qrIds[]"],
        ["MembersBulkAdd"] = ["teams[].teamId", "email"],
        ["MembersAddOrUpdate"] = ["email"],
    };

    private sealed record Probe(string Method, string Path, string Query = "", byte[]? Body = null, string? ContentType = null, string? TeamHeader = null,
        string? IdempotencyKey = null)
    {
        public override string ToString() =>
            $"{Method} {Printable(Path)}{Printable(Query[..Math.Min(Query.Length, 60)])}{(Body is null ? "" : $" [{ContentType}] {Printable(Encoding.UTF8.GetString(Body[..Math.Min(Body.Length, 80)]))}")}"
            + (TeamHeader is null ? "" : $" team={Printable(TeamHeader)}") + (IdempotencyKey is null ? "" : $" idempotency-key={Printable(IdempotencyKey[..Math.Min(IdempotencyKey.Length, 40)])}");
    }

    [Fact]
    public async Task HostileRequestsToEveryOperationAreRefusedInTheirEnvelopeAndWriteNothing()
    {
        var tenant = await service.NewTenantAsync("Enterprise", """{"requestsPerSecond":1000000,"burst":1000000}""");
        var qr = await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", name = "Existing", qrRedirectUrl = "https://example.com/" }).DataAsync(System.Net.HttpStatusCode.Created);
        var document = JsonNode.Parse(await service.Anonymous().GetStringAsync("/openapi/v1.json"))!;
        var corpus = Corpus(document, tenant).ToList();

        var before = await SnapshotAsync();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<(string Problem, string Example)>();
        var statuses = new System.Collections.Concurrent.ConcurrentDictionary<int, int>();
        var server = service.App.GetTestServer();
        await Parallel.ForEachAsync(corpus, new ParallelOptions { MaxDegreeOfParallelism = 2 }, async (probe, _) =>
        {
            var (status, headers, body) = await SendAsync(server, tenant, probe);
            statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
            if (Problem(probe, status, headers, body) is { } problem) failures.Enqueue((problem, $"{probe} -> {status} {Printable(body[..Math.Min(body.Length, 200)])}"));
        });
        var after = await SnapshotAsync();

        output.WriteLine($"{corpus.Count} requests to {document["paths"]!.AsObject().Sum(p => p.Value!.AsObject().Count)} operations; statuses: "
            + string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}×{s.Value}")));
        var written = before.Except(after).Select(r => "- " + r).Concat(after.Except(before).Select(r => "+ " + r)).ToList();
        Assert.True(failures.IsEmpty && written.Count == 0,
            $"{failures.Count} of {corpus.Count} answers were wrong:\n" + string.Join("\n", failures.GroupBy(f => f.Problem)
                .Select(g => $"{g.Key} ×{g.Count()}, e.g.\n  " + string.Join("\n  ", g.Select(f => f.Example).Order(StringComparer.Ordinal).Take(12))))
            + $"\n{written.Count} rows, blobs or queues changed:\n" + string.Join("\n", written.Take(40).Select(w => Printable(w[..Math.Min(w.Length, 300)]))));
        Assert.Equal("Existing", (await tenant.QrApi().GetAsync($"/api/qrs-api/{qr.GetProperty("id").GetString()}").DataAsync()).GetProperty("name").GetString());
    }

    private static IEnumerable<Probe> Corpus(JsonNode document, Tenant tenant)
    {
        var plausible = Plausible(tenant);
        foreach (var (path, item) in document["paths"]!.AsObject())
        {
            var parameters = System.Text.RegularExpressions.Regex.Matches(path, @"\{(\w+)\}").Select(m => m.Groups[1].Value).ToList();
            string Fill(Func<string, string> value) => parameters.Aggregate(path, (p, name) => p.Replace("{" + name + "}", value(name)));
            var methods = item!.AsObject().Select(o => o.Key.ToUpperInvariant()).ToList();
            foreach (var (method, operation) in item.AsObject().Select(o => (o.Key.ToUpperInvariant(), o.Value!)))
            {
                var name = operation["operationId"]!.GetValue<string>();
                var takesBody = method is "POST" or "PUT" or "PATCH";
                var body = takesBody ? Json(plausible) : null;
                var type = takesBody ? "application/json" : null;

                // Hostile ids in each path parameter, the others naming nothing; the body is valid so the id decides.
                foreach (var parameter in parameters)
                    foreach (var id in KeyInvalidIds.Concat(OddIds))
                        yield return new Probe(method, Fill(p => p == parameter ? id : Missing), Body: body, ContentType: type);

                // Hostile query strings (numbers, dates, enumerations, control characters, OData), without a body.
                foreach (var query in QueryStrings)
                    yield return new Probe(method, Fill(_ => Missing), query);

                // A team header that cannot name a team.
                foreach (var team in new[] { "a/b", "a\tb", "' or PartitionKey ne '", new string('t', 2000) })
                    yield return new Probe(method, Fill(_ => Missing), TeamHeader: team);

                // An Idempotency-Key that cannot be one, on a request that would otherwise be carried out: refused before the function runs.
                if (method == "POST")
                    foreach (var key in new[] { "", new string('k', 256), "a\u0001b", "a\nb", "schl\u00fcssel", "\u00ff" })
                        yield return new Probe(method, Fill(_ => Missing), Body: body, ContentType: type, IdempotencyKey: key);

                if (!takesBody) continue;
                // Bodies every function that reads one refuses: the path names the caller's own team or organization where a
                // function acts on it, so its body is read; anything else names nothing.
                var target = Fill(p => p != "id" ? Missing
                    : path.StartsWith("/api/teams-api/{id}", StringComparison.Ordinal) || path.StartsWith("/v1/workspaces/", StringComparison.Ordinal) ? tenant.TeamId
                    : path.StartsWith("/v1/organizations/", StringComparison.Ordinal) ? tenant.OrgId : Missing);
                foreach (var (bytes, contentType) in HostileBodies(plausible))
                    yield return new Probe(method, target, Body: bytes, ContentType: contentType);

                // Ids in bodies that storage cannot hold, everything else valid.
                foreach (var field in BodyIds.GetValueOrDefault(name, []))
                    foreach (var id in KeyInvalidIds)
                        yield return new Probe(method, target, Body: Json(WithId(plausible, field, field == "email" ? id + "@example.com" : id)), ContentType: "application/json");
            }

            // Methods no operation of the path has.
            foreach (var method in new[] { "GET", "POST", "PUT", "PATCH", "DELETE" }.Except(methods))
                yield return new Probe(method, Fill(_ => Missing), Body: method is "GET" or "DELETE" ? null : Json(plausible), ContentType: "application/json");
        }
        // Paths no function serves.
        foreach (var path in new[] { "/api/fuzz-unknown", "/api/qrs-api/a/b/c/d", "/v1/fuzz-unknown", "/v1/organizations/x/y", "/api/..%2F..%2Fadmin", "/v1/\0" })
            foreach (var method in new[] { "GET", "POST", "DELETE" })
                yield return new Probe(method, path);
    }

    /// <summary>A body with a valid value for every field any function reads.</summary>
    private static JsonObject Plausible(Tenant tenant) => new()
    {
        ["name"] = "Fuzz", ["title"] = "Fuzz", ["qrType"] = "WEB", ["qrRedirectUrl"] = "https://example.com/", ["url"] = "https://example.com/hook",
        ["events"] = new JsonArray("codes.created"), ["email"] = "fuzz@example.com", ["role"] = "viewer", ["scope"] = "workspace", ["slug"] = "fuzz-slug",
        ["teams"] = new JsonArray(new JsonObject { ["teamId"] = tenant.TeamId, ["role"] = "viewer" }), ["tags"] = new JsonArray("fuzz"),
        ["domains"] = new JsonArray("qr.example.com"), ["defaultDomain"] = "qr.example.com", ["qrIds"] = new JsonArray(Missing), ["startTime"] = 0, ["endTime"] = 1,
    };

    private static JsonObject WithId(JsonObject plausible, string field, string id)
    {
        if (field.StartsWith("codes[].", StringComparison.Ordinal))
            return new JsonObject { ["codes"] = new JsonArray(WithId(plausible, field["codes[].".Length..], id)) };
        var body = (JsonObject)plausible.DeepClone();
        if (field == "teams[].teamId") body["teams"]![0]!["teamId"] = id;
        else if (field.EndsWith("[]", StringComparison.Ordinal)) body[field[..^2]] = new JsonArray("fine", id);
        else body[field] = id;
        return body;
    }

    private static byte[] Json(JsonNode node) => Encoding.UTF8.GetBytes(node.ToJsonString());

    private static IEnumerable<(byte[] Body, string ContentType)> HostileBodies(JsonObject plausible)
    {
        const string json = "application/json";
        foreach (var text in new[] { "", "null", "[]", "\"text\"", "12", "{", "{\"name\":}", "{\"name\":\"x\"", "{\"name\":\"x\",}", "{'name':'x'}", "\uFEFF{\"a\":[1,]}" })
            yield return (Encoding.UTF8.GetBytes(text), json);
        // 64-deep nesting, alone and inside a valid body.
        yield return (Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("{\"a\":", 64)) + "1" + new string('}', 64)), json);
        var deep = (JsonObject)plausible.DeepClone();
        deep["metadata"] = JsonNode.Parse(new string('[', 64) + new string(']', 64), documentOptions: new JsonDocumentOptions { MaxDepth = 128 });
        yield return (Encoding.UTF8.GetBytes(deep.ToJsonString(new JsonSerializerOptions { MaxDepth = 128 })), json);
        // 1 MB strings.
        var large = (JsonObject)plausible.DeepClone();
        large["name"] = new string('x', 1024 * 1024);
        yield return (Json(large), json);
        // Every key twice (the second value differs).
        var pairs = plausible.Select(p => $"{JsonSerializer.Serialize(p.Key)}:{p.Value!.ToJsonString()},{JsonSerializer.Serialize(p.Key)}:{p.Value!.ToJsonString()}");
        yield return (Encoding.UTF8.GetBytes("{" + string.Join(",", pairs) + "}"), json);
        // Every string a lone surrogate, or bytes that are not UTF-8.
        var plain = plausible.ToJsonString();
        yield return (Encoding.UTF8.GetBytes(System.Text.RegularExpressions.Regex.Replace(plain, "\"([^\"]+)\"(?=[,}\\]])", "\"\\ud800$1\"")), json);
        yield return (Encoding.UTF8.GetBytes(System.Text.RegularExpressions.Regex.Replace(plain, "\"([^\"]+)\"(?=[,}\\]])", "\"\\udfff\"")), json);
        var notUtf8 = Encoding.UTF8.GetBytes(System.Text.RegularExpressions.Regex.Replace(plain, "\"([^\"]+)\"(?=[,}\\]])", "\"\u0001$1\u0001\""));
        for (var i = 0; i < notUtf8.Length; i++) if (notUtf8[i] == 1) notUtf8[i] = 0xFF;
        yield return (notUtf8, json);
        // Wrong JSON types, huge and negative numbers, NUL and control characters in keys, invalid dates.
        yield return (Encoding.UTF8.GetBytes("""
            {"name":5,"title":[],"qrType":{},"qrRedirectUrl":true,"url":1,"events":"codes.created","email":[],"teams":"x","slug":1,"qrIds":"x",
             "startTime":"x","endTime":{},"tags":"x","role":2,"scope":3,"domains":"x","defaultDomain":7,"expires_at":8,"approval_required":"yes",
             "templateId":4,"folderIds":"x","metadata":"x","settings":[]}
            """), json);
        yield return (Encoding.UTF8.GetBytes("""
            {"name":-1e308,"title":1e400,"qrType":123456789012345678901234567890,"url":-0,"email":-9223372036854775809,"teams":[1],"slug":-1,
             "qrIds":[-1],"startTime":-1,"endTime":99999999999999999999,"tags":[1e400],"domains":[-1],"defaultDomain":0.5}
            """), json);
        yield return (Encoding.UTF8.GetBytes("""
            {"\u0000":"\u0000","a\u0001b":"\u001f","\u007f":"\u0085","\udbff":"\ud800","name":null,"title":null,"qrType":"\u0000","url":"\u0000","email":"\u0000","teams":[{"teamId":"\u0000"}],
             "slug":"\u0000","qrIds":"\u0000","startTime":"\u0000","tags":"\u0000","domains":"\u0000","defaultDomain":"\u0000"}
            """), json);
        yield return (Encoding.UTF8.GetBytes("""
            {"name":"","expires_at":"2024-02-30T25:61:00Z","startTime":"2024-02-30","endTime":"yesterday","qrType":"2024-13-01","url":"2024-02-30",
             "email":"2024-02-30","teams":"2024-02-30","slug":"2024-02-30!","qrIds":"2024-02-30","tags":"2024-02-30","domains":"2024-02-30","title":""}
            """), json);
        // Wrong content types.
        yield return ("name=Fuzz&qrType=WEB&qrRedirectUrl=https%3A%2F%2Fexample.com%2F"u8.ToArray(), "application/x-www-form-urlencoded");
        yield return ("<name>Fuzz</name>"u8.ToArray(), "text/xml");
        yield return ("Fuzz"u8.ToArray(), "text/plain");
        yield return (Enumerable.Range(0, 256).Select(i => (byte)i).ToArray(), "application/octet-stream");
        yield return ("--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\u0089PNG"u8.ToArray(), "multipart/form-data; boundary=zz");
        yield return ("--zz--\r\n"u8.ToArray(), "multipart/form-data");
        yield return ("{\"name\":"u8.ToArray(), "application/json; charset=utf-16");
    }

    private async Task<(int Status, IHeaderDictionary Headers, string Body)> SendAsync(TestServer server, Tenant tenant, Probe probe)
    {
        var context = await server.SendAsync(c =>
        {
            c.Request.Method = probe.Method;
            c.Request.Path = new PathString(probe.Path); // as the server hands a decoded path to routing
            c.Request.QueryString = new QueryString(probe.Query);
            if (probe.Path.StartsWith("/v1", StringComparison.Ordinal))
                c.Request.Headers.Authorization = "Bearer " + tenant.OwnerKey.BearerToken;
            else
            {
                c.Request.Headers[AccessPolicy.ClientIdHeader] = tenant.OwnerKey.KeyId;
                c.Request.Headers[AccessPolicy.ClientSecretHeader] = tenant.OwnerKey.Secret;
            }
            if (probe.TeamHeader is not null) c.Request.Headers[AccessPolicy.TeamHeader] = probe.TeamHeader;
            if (probe.IdempotencyKey is not null) c.Request.Headers[QrFunctions.Hosting.IdempotencyKeys.Header] = probe.IdempotencyKey;
            if (probe.Body is not null)
            {
                c.Request.Body = new MemoryStream(probe.Body);
                c.Request.ContentLength = probe.Body.Length;
                c.Request.ContentType = probe.ContentType;
            }
        });
        using var reader = new StreamReader(context.Response.Body);
        return (context.Response.StatusCode, context.Response.Headers, await reader.ReadToEndAsync());
    }

    /// <summary>What is wrong with an answer, or null.</summary>
    private static string? Problem(Probe probe, int status, IHeaderDictionary headers, string body)
    {
        if (status >= 500) return "server error";
        if (headers.XContentTypeOptions != "nosniff") return "no nosniff";
        // Every request is built to be refused; only reads (which write nothing) may succeed.
        if (status < 400 && probe.Method is not ("GET" or "HEAD")) return "not refused";
        if (status < 400 || probe.Method == "HEAD") return null;
        var surface = probe.Path.StartsWith("/v1", StringComparison.Ordinal) ? "v1" : probe.Path.StartsWith("/api", StringComparison.Ordinal) ? "api" : null;
        if (surface is null) return null; // scan and invitation pages answer HTML
        try
        {
            var root = JsonDocument.Parse(body).RootElement;
            var ok = surface == "v1"
                ? root.TryGetProperty("error", out var error) && error.TryGetProperty("code", out var code) && code.ValueKind == JsonValueKind.String
                    && error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String
                : root.TryGetProperty("success", out var success) && success.ValueKind == JsonValueKind.False
                    && root.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String;
            return ok ? null : "not the surface's envelope";
        }
        catch (JsonException)
        {
            return "not JSON";
        }
    }

    /// <summary>
    /// Every row (with its ETag, so a rewrite of the same content counts), blob and queued message under the class's storage
    /// prefix. Left out: per-call bookkeeping every authenticated call legitimately writes — the usage meter's rows, the
    /// rate limiter's buckets and a key's last-used time (with the ETag that its update changes).
    /// </summary>
    private async Task<List<string>> SnapshotAsync()
    {
        var storage = service.Storage;
        var rows = new List<string>();
        var prefix = storage.Names.Prefix;
        await foreach (var table in storage.TableService.QueryAsync($"TableName ge '{prefix}' and TableName lt '{prefix}~'"))
        {
            if (table.Name == storage.Names.Usage || table.Name == storage.Names.RateLimits) continue;
            await foreach (var row in storage.Table(table.Name).QueryAsync<TableEntity>())
            {
                var keyRow = table.Name == storage.Names.ApiKeys;
                var properties = row.Where(p => !(keyRow && p.Key is "LastUsedAt" or "odata.etag" or "Timestamp"))
                    .OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={Convert.ToString(p.Value, System.Globalization.CultureInfo.InvariantCulture)}");
                rows.Add($"{table.Name}|{row.PartitionKey}|{row.RowKey}|{string.Join(";", properties)}");
            }
        }
        await foreach (var container in storage.BlobService.GetBlobContainersAsync(prefix: prefix))
            await foreach (var blob in storage.BlobService.GetBlobContainerClient(container.Name).GetBlobsAsync())
                rows.Add($"{container.Name}/{blob.Name}|{blob.Properties.ETag}|{blob.Properties.ContentLength}");
        await foreach (var queue in storage.QueueService.GetQueuesAsync(prefix: prefix))
        {
            var peeked = await storage.Queue(queue.Name).PeekMessagesAsync(32);
            rows.Add($"{queue.Name}|{string.Join(",", peeked.Value.Select(m => m.MessageId))}");
        }
        rows.Sort(StringComparer.Ordinal);
        return rows;
    }

    private static string Printable(string text) =>
        string.Concat(text.Select(c => char.IsControl(c) || char.IsSurrogate(c) ? $"\\u{(int)c:x4}" : c.ToString()));
}
