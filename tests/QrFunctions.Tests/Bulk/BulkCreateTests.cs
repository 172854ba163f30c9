using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using QrFunctions.Bulk;
using QrFunctions.Qrs;
using QrFunctions.Scans;
using QrFunctions.Storage;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Bulk;

/// <summary>POST /api/qrs-api/bulk and the CreateBulkCodes queue function, against Azurite, the queue drained as the poller would.</summary>
public class BulkCreateTests(TestService service) : IClassFixture<TestService>
{
    private static object Web(int i, string? displayId = null) => displayId is null
        ? new { name = $"Print {i:D3}", qrType = "WEB", qrRedirectUrl = $"https://example.com/p/{i}" }
        : new { name = $"Print {i:D3}", qrType = "WEB", qrRedirectUrl = $"https://example.com/p/{i}", displayId };

    private static async Task<string> AcceptedAsync(HttpResponseMessage response)
    {
        var data = await response.DataAsync(HttpStatusCode.Accepted);
        Assert.Equal("queued", data.GetProperty("status").GetString());
        return data.GetProperty("batchId").GetString()!;
    }

    private Task DrainAsync() => service.DrainQueueAsync("CreateBulkCodes", maxRounds: 1000);

    private static Task<JsonElement> StatusAsync(Tenant tenant, string batchId) => tenant.QrApi().GetAsync($"/api/qrs-api/bulk/{batchId}").DataAsync();

    /// <summary>The team's code rows as stored (live and deleted): what a duplicate would add to.</summary>
    private async Task<List<TableEntity>> CodeRowsAsync(string teamId)
    {
        var rows = new List<TableEntity>();
        await foreach (var row in service.Storage.TeamData.QueryAsync<TableEntity>(TableQueries.PrefixFilter(teamId, QrKeys.QrPrefix), select: ["RowKey", "DisplayId"]))
            rows.Add(row);
        return rows;
    }

    /// <summary>Batches the team has (a refused batch must leave none: no header, so nothing is queued or created for it).</summary>
    private async Task<int> BatchesAsync(string teamId)
    {
        var count = 0;
        await foreach (var _ in service.Storage.Table(service.Storage.Names.BulkBatches).QueryAsync<TableEntity>(
                           TableClient.CreateQueryFilter($"RowKey eq {BulkRows.Header} and TeamId eq {teamId}"), select: ["RowKey"]))
            count++;
        return count;
    }

    [Fact]
    public async Task EveryBadRowIsReportedWithItsFieldAndNothingIsCreated()
    {
        var tenant = await service.NewTenantAsync();
        var existing = await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://example.com/", displayId = "taken-" + Ids.Random(6) })
            .DataAsync(HttpStatusCode.Created);
        var twice = "twice-" + Ids.Random(6);
        var fresh = "fresh-" + Ids.Random(6);
        var codes = new object[]
        {
            Web(1),                                                                          // 1 fine
            new { name = "no type", qrRedirectUrl = "https://example.com/" },                // 2 qrType missing
            new { qrType = "WEB", qrRedirectUrl = "javascript:alert(1)" },                   // 3 not an http URL
            Web(4, twice),                                                                   // 4 fine
            Web(5, twice),                                                                   // 5 same displayId as row 4
            Web(6, existing.GetProperty("displayId").GetString()),                           // 6 a code holds it
            new { qrType = "WEB", qrRedirectUrl = "https://example.com/", templateId = "nope" }, // 7 no such template
            "not an object",                                                                 // 8
            Web(9, fresh),                                                                   // 9 fine
        };
        var response = await tenant.QrApi().PostJsonAsync("/api/qrs-api/bulk", new { codes });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var body = await response.BodyAsync();
        Assert.False(body.GetProperty("success").GetBoolean());
        Assert.Contains("6 of 9 rows", body.GetProperty("message").GetString());
        var errors = body.GetProperty("errors").EnumerateArray()
            .Select(e => (e.GetProperty("row").GetInt32(), e.GetProperty("field").GetString(), e.GetProperty("message").GetString()!)).ToList();
        Assert.Equal([2, 3, 5, 6, 7, 8], errors.Select(e => e.Item1));
        Assert.Equal(["qrType", "qrRedirectUrl", "displayId", "displayId", "templateId", null], errors.Select(e => e.Item2));
        Assert.Contains("row 4", errors[2].Item3);
        Assert.Equal("displayId already exists!", errors[3].Item3);

        Assert.Single(await CodeRowsAsync(tenant.TeamId));
        Assert.Equal(0, await BatchesAsync(tenant.TeamId));
        Assert.False((await service.Storage.Routes.GetEntityIfExistsAsync<TableEntity>(fresh, QrRoute.Row)).HasValue);
        Assert.False((await service.Storage.Routes.GetEntityIfExistsAsync<TableEntity>(twice, QrRoute.Row)).HasValue);
    }

    [Fact]
    public async Task ABatchOf200IsCreatedThroughTheQueueWithItsBatchIdImagesAndHashedPasswords()
    {
        var tenant = await service.NewTenantAsync();
        var prefix = "run-" + Ids.Random(6).ToLowerInvariant();
        var codes = Enumerable.Range(1, 200).Select(i => i % 50 == 0
            ? (object)new { name = $"Locked {i}", qrType = "WEB", qrRedirectUrl = $"https://example.com/l/{i}", settings = new { passwordEnabled = true, password = "open sesame" } }
            : Web(i, i % 2 == 0 ? $"{prefix}-{i}" : null)).ToArray();
        var batchId = await AcceptedAsync(await tenant.QrApi().PostJsonAsync("/api/qrs-api/bulk", new { codes }));
        var queued = await StatusAsync(tenant, batchId);
        Assert.Equal((200, 0, 0, 200), (queued.GetProperty("total").GetInt32(), queued.GetProperty("done").GetInt32(), queued.GetProperty("failed").GetInt32(), queued.GetProperty("pending").GetInt32()));
        Assert.Equal(JsonValueKind.Null, queued.GetProperty("codes").ValueKind);
        // The password waits sealed, never in plaintext.
        await foreach (var item in service.Storage.Table(service.Storage.Names.BulkBatches).QueryAsync<TableEntity>(TableQueries.PrefixFilter(batchId, BulkRows.ItemPrefix)))
            Assert.DoesNotContain("open sesame", EntityJson.Read(item, "Request")!.ToJsonString() + item.GetString("SealedPassword"));

        await DrainAsync();

        var status = await StatusAsync(tenant, batchId);
        Assert.Equal("finished", status.GetProperty("status").GetString());
        Assert.Equal((200, 0, 0), (status.GetProperty("done").GetInt32(), status.GetProperty("failed").GetInt32(), status.GetProperty("pending").GetInt32()));
        var created = status.GetProperty("codes").EnumerateArray().ToList();
        Assert.Equal(Enumerable.Range(1, 200), created.Select(c => c.GetProperty("row").GetInt32()));
        Assert.Equal(200, created.Select(c => c.GetProperty("id").GetString()).Distinct().Count());
        Assert.Equal($"{prefix}-2", created[1].GetProperty("displayId").GetString());
        Assert.Equal(200, created.Select(c => c.GetProperty("displayId").GetString()).Distinct().Count());
        Assert.All(created, c => Assert.EndsWith(".png", c.GetProperty("qrImageUrl").GetString()));

        var list = await tenant.QrApi().GetAsync("/api/qrs-api/v2/teams?limit=1").DataAsync();
        Assert.Equal(200, list.GetProperty("totalCount").GetInt32());
        var first = await tenant.QrApi().GetAsync($"/api/qrs-api/{created[0].GetProperty("id").GetString()}").DataAsync();
        Assert.Equal(batchId, first.GetProperty("batchId").GetString());
        Assert.Equal("Print 001", first.GetProperty("name").GetString());
        var image = first.GetProperty("qrImageUrl").GetString()!;
        Assert.True(await service.Storage.QrImages.GetBlobClient(image[(image.LastIndexOf('/') + 1)..]).ExistsAsync());
        var locked = await tenant.QrApi().GetAsync($"/api/qrs-api/{created[49].GetProperty("id").GetString()}").DataAsync();
        Assert.True(locked.GetProperty("settings").GetProperty("passwordSet").GetBoolean());
        var stored = (await service.Storage.TeamData.GetEntityAsync<TableEntity>(tenant.TeamId, QrKeys.Qr(created[49].GetProperty("id").GetString()!))).Value;
        Assert.True(QrPasswords.Matches((JsonObject)EntityJson.Read(stored, "Doc")!["settings"]!, "open sesame"));
        // Done rows keep only the outcome: no definition, no sealed password.
        await foreach (var item in service.Storage.Table(service.Storage.Names.BulkBatches).QueryAsync<TableEntity>(TableQueries.PrefixFilter(batchId, BulkRows.ItemPrefix)))
            Assert.False(item.ContainsKey("Request0") || item.ContainsKey("SealedPassword"));

        var scan = await service.Anonymous().GetAsync($"/{prefix}-2");
        Assert.Equal(HttpStatusCode.Found, scan.StatusCode);
        Assert.Equal("https://example.com/p/2", scan.Headers.Location!.ToString());
    }

    [Fact]
    public async Task RedeliveredDoubledAndHalfDoneChunksCreateNoDuplicates()
    {
        var tenant = await service.NewTenantAsync();
        var prefix = "redo-" + Ids.Random(6).ToLowerInvariant();
        var codes = Enumerable.Range(1, 30).Select(i => Web(i, i % 3 == 0 ? $"{prefix}-{i}" : null)).ToArray();
        var batchId = await AcceptedAsync(await tenant.QrApi().PostJsonAsync("/api/qrs-api/bulk", new { codes }));
        var queue = service.Storage.Queue(service.Storage.Names.BulkCreateQueue);
        var whole = (await queue.ReceiveMessagesAsync(1)).Value.Single();
        await queue.DeleteMessageAsync(whole.MessageId, whole.PopReceipt);

        // The whole-batch message delivered twice: its split queues every chunk twice.
        await service.Create<BulkCreator>().CreateAsync(whole.Body.ToString(), CancellationToken.None);
        await service.Create<BulkCreator>().CreateAsync(whole.Body.ToString(), CancellationToken.None);
        Assert.Equal(6, (await queue.PeekMessagesAsync(32)).Value.Length);

        // Crashes part-way through rows of the second chunk (rows 11-20): row 11's code was created and published but the row
        // never recorded; row 12's code was written but its displayId never published; row 15 (displayId given) only reserved.
        var caller = await CallerAsync(tenant);
        var store = service.Get<QrStore>();
        var request = (JsonObject)JsonSerializer.SerializeToNode(codes[10])!;
        await store.CreateAsync(caller, QrRequest.Validate(request, caller.Team!), CancellationToken.None, new BulkItem(batchId, 10));
        var twelve = await store.CreateAsync(caller, QrRequest.Validate((JsonObject)JsonSerializer.SerializeToNode(codes[11])!, caller.Team!), CancellationToken.None, new BulkItem(batchId, 11));
        var unpublished = (await service.Storage.Routes.GetEntityAsync<TableEntity>(twelve.DisplayId, QrRoute.Row)).Value;
        unpublished["State"] = QrRoute.States.Reserved;
        EntityJson.Write(unpublished, QrRoute.QrProperty, null);
        await service.Storage.Routes.UpsertEntityAsync(unpublished, TableUpdateMode.Replace);
        await service.Storage.Routes.AddEntityAsync(new TableEntity($"{prefix}-15", QrRoute.Row)
        {
            ["QrId"] = new BulkItem(batchId, 14).QrId, ["TeamId"] = tenant.TeamId, ["OrgId"] = tenant.OrgId, ["State"] = QrRoute.States.Reserved, ["UpdatedAt"] = Clock.NowMs(),
        });

        // Every chunk message twice, the two copies at once, as two instances would take them after a visibility timeout.
        var chunks = (await queue.ReceiveMessagesAsync(32)).Value;
        await Task.WhenAll(chunks.Select(m => service.Create<BulkCreator>().CreateAsync(m.Body.ToString(), CancellationToken.None)));
        // And once more after that (a redelivery of messages whose deletes were lost).
        foreach (var m in chunks) await service.Create<BulkCreator>().CreateAsync(m.Body.ToString(), CancellationToken.None);

        var status = await StatusAsync(tenant, batchId);
        Assert.Equal(("finished", 30, 0), (status.GetProperty("status").GetString(), status.GetProperty("done").GetInt32(), status.GetProperty("failed").GetInt32()));
        var rows = await CodeRowsAsync(tenant.TeamId);
        Assert.Equal(30, rows.Count);
        Assert.Equal(30, rows.Select(r => r.GetString("DisplayId")).Distinct().Count());
        Assert.Equal(30, (await tenant.QrApi().GetAsync("/api/qrs-api/v2/teams?limit=1").DataAsync()).GetProperty("totalCount").GetInt32());
        Assert.Equal(twelve.Id, status.GetProperty("codes")[11].GetProperty("id").GetString());
        Assert.Equal($"{prefix}-15", status.GetProperty("codes")[14].GetProperty("displayId").GetString());
        foreach (var code in status.GetProperty("codes").EnumerateArray())
        {
            var route = (await service.Storage.Routes.GetEntityAsync<TableEntity>(code.GetProperty("displayId").GetString()!, QrRoute.Row)).Value;
            Assert.Equal((QrRoute.States.Live, code.GetProperty("id").GetString()), (route.GetString("State"), route.GetString("QrId")));
        }
        var audit = 0;
        await foreach (var entry in service.Storage.TeamData.QueryAsync<TableEntity>(TableQueries.PrefixFilter(tenant.TeamId, QrFunctions.AuditLogs.AuditEntry.RowPrefix), select: ["Action"]))
            if (entry.GetString("Action") == "codes.created") audit++;
        Assert.Equal(30, audit);
    }

    [Fact]
    public async Task ADisplayIdTakenAfterTheBatchWasAcceptedFailsThatRowAloneWithTheReason()
    {
        var tenant = await service.NewTenantAsync();
        var contested = "contested-" + Ids.Random(6);
        var batchId = await AcceptedAsync(await tenant.QrApi().PostJsonAsync("/api/qrs-api/bulk", new { codes = new[] { Web(1), Web(2, contested), Web(3) } }));
        await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://example.com/first", displayId = contested }).DataAsync(HttpStatusCode.Created);

        await DrainAsync();

        var status = await StatusAsync(tenant, batchId);
        Assert.Equal(("finished", 2, 1), (status.GetProperty("status").GetString(), status.GetProperty("done").GetInt32(), status.GetProperty("failed").GetInt32()));
        var failure = Assert.Single(status.GetProperty("failures").EnumerateArray());
        Assert.Equal((2, "displayId", "displayId already exists!"), (failure.GetProperty("row").GetInt32(), failure.GetProperty("field").GetString(), failure.GetProperty("message").GetString()));
        Assert.Equal([1, 3], status.GetProperty("codes").EnumerateArray().Select(c => c.GetProperty("row").GetInt32()));
        Assert.Equal(3, (await CodeRowsAsync(tenant.TeamId)).Count);
        var route = (await service.Storage.Routes.GetEntityAsync<TableEntity>(contested, QrRoute.Row)).Value;
        Assert.NotEqual(new BulkItem(batchId, 1).QrId, route.GetString("QrId"));
    }

    [Fact]
    public async Task ThePlansCodeLimitRefusesABatchThatCannotFitAndFailsRowsThatNoLongerFit()
    {
        var tenant = await service.NewTenantAsync("Enterprise", """{"maxQrCodesPerTeam":5}""");
        await tenant.QrApi().PostJsonAsync("/api/qrs-api/bulk", new { codes = Enumerable.Range(1, 6).Select(i => Web(i)) })
            .ErrorAsync(HttpStatusCode.BadRequest, "allows 5 codes per team");
        Assert.Equal(0, await BatchesAsync(tenant.TeamId));

        var batchId = await AcceptedAsync(await tenant.QrApi().PostJsonAsync("/api/qrs-api/bulk", new { codes = Enumerable.Range(1, 4).Select(i => Web(i)) }));
        for (var i = 0; i < 2; i++)
            await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://example.com/single" }).DataAsync(HttpStatusCode.Created);
        await DrainAsync();

        var status = await StatusAsync(tenant, batchId);
        Assert.Equal((3, 1), (status.GetProperty("done").GetInt32(), status.GetProperty("failed").GetInt32()));
        Assert.Contains("QR code limit reached", status.GetProperty("failures")[0].GetProperty("message").GetString());
        Assert.Equal(5, (await CodeRowsAsync(tenant.TeamId)).Count);
    }

    private const string Csv = """
        name,qrType,qrRedirectUrl,displayId,tags,expiryDate,settings.passwordEnabled,metadata.website,metadata:json
        "Spring menu, front door",WEB,https://example.com/menu,{prefix}-menu,spring|print,1893456000000,false,https://example.com,"{""color"":""green""}"
        "Two
        lines",SHORT_LINK,https://example.com/2,,,,,,
        =HYPERLINK(1),WEB,https://example.com/3,,,,,,

        """;

    [Fact]
    public async Task ACsvUploadBecomesTheSameCodesAsTheJsonBodyAsTextOrAsAFormFile()
    {
        var tenant = await service.NewTenantAsync();
        var prefix = "csv-" + Ids.Random(6).ToLowerInvariant();
        var asText = await AcceptedAsync(await tenant.QrApi().PostAsync("/api/qrs-api/bulk",
            new StringContent(Csv.Replace("{prefix}", prefix).Replace("\r\n", "\n"), Encoding.UTF8, "text/csv")));
        var form = new MultipartFormDataContent
        {
            { new ByteArrayContent(Encoding.UTF8.GetBytes(Csv.Replace("{prefix}", prefix + "x").Replace("\n", "\r\n"))) { Headers = { ContentType = new MediaTypeHeaderValue("text/csv") } }, "file", "codes.csv" },
        };
        var asFile = await AcceptedAsync(await tenant.QrApi().PostAsync("/api/qrs-api/bulk", form));
        await DrainAsync();

        foreach (var (batchId, p) in new[] { (asText, prefix), (asFile, prefix + "x") })
        {
            var status = await StatusAsync(tenant, batchId);
            Assert.Equal((3, 0), (status.GetProperty("done").GetInt32(), status.GetProperty("failed").GetInt32()));
            var ids = status.GetProperty("codes").EnumerateArray().Select(c => c.GetProperty("id").GetString()).ToList();
            var menu = await tenant.QrApi().GetAsync($"/api/qrs-api/{ids[0]}").DataAsync();
            Assert.Equal("Spring menu, front door", menu.GetProperty("name").GetString());
            Assert.Equal($"{p}-menu", menu.GetProperty("displayId").GetString());
            Assert.Equal(["spring", "print"], menu.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
            Assert.Equal(1893456000000, menu.GetProperty("expiryDate").GetInt64());
            Assert.False(menu.GetProperty("settings").GetProperty("passwordEnabled").GetBoolean());
            Assert.Equal("https://example.com", menu.GetProperty("metadata").GetProperty("website").GetString());
            Assert.Equal("green", menu.GetProperty("metadata").GetProperty("color").GetString());
            var second = await tenant.QrApi().GetAsync($"/api/qrs-api/{ids[1]}").DataAsync();
            Assert.Equal(("Two\nlines", "SHORT_LINK"), (second.GetProperty("name").GetString()!.Replace("\r\n", "\n"), second.GetProperty("qrType").GetString()));
            Assert.Equal("=HYPERLINK(1)", (await tenant.QrApi().GetAsync($"/api/qrs-api/{ids[2]}").DataAsync()).GetProperty("name").GetString());
        }
    }

    [Fact]
    public async Task BadCsvRowsAreEachReportedByRowAndField()
    {
        var tenant = await service.NewTenantAsync();
        var csv = """
            name,qrType,qrRedirectUrl,expiryDate,settings.passwordEnabled,metadata:json
            fine,WEB,https://example.com/1,,,
            late,WEB,https://example.com/2,next tuesday,,
            ,,https://example.com/3,,,
            flag,WEB,https://example.com/4,,maybe,
            json,WEB,https://example.com/5,,,{not json
            extra,WEB,https://example.com/6,,,,surplus
            "bad "quote",WEB,https://example.com/7,,,
            """;
        var response = await tenant.QrApi().PostAsync("/api/qrs-api/bulk", new StringContent(csv, Encoding.UTF8, "text/csv"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var errors = (await response.BodyAsync()).GetProperty("errors").EnumerateArray()
            .Select(e => (e.GetProperty("row").GetInt32(), e.GetProperty("field").GetString())).ToList();
        Assert.Equal([(2, "expiryDate"), (3, "qrType"), (4, "settings.passwordEnabled"), (5, "metadata"), (6, null), (7, null)], errors);
        Assert.Empty(await CodeRowsAsync(tenant.TeamId));

        await tenant.QrApi().PostAsync("/api/qrs-api/bulk", new ByteArrayContent([0x6E, 0x61, 0xFF, 0x0A]) { Headers = { ContentType = new("text/csv") } })
            .ErrorAsync(HttpStatusCode.BadRequest, "not UTF-8");
        await tenant.QrApi().PostAsync("/api/qrs-api/bulk", new StringContent("name,,qrType\nx,y,WEB\n", Encoding.UTF8, "text/csv"))
            .ErrorAsync(HttpStatusCode.BadRequest, "Column 2");
        await tenant.QrApi().PostAsync("/api/qrs-api/bulk", new StringContent("name,qrType\n", Encoding.UTF8, "text/csv"))
            .ErrorAsync(HttpStatusCode.BadRequest, "no codes");
        await tenant.QrApi().PostAsync("/api/qrs-api/bulk", new StringContent("name", Encoding.UTF8, "text/plain"))
            .ErrorAsync(HttpStatusCode.UnsupportedMediaType);
        await tenant.QrApi().PostJsonAsync("/api/qrs-api/bulk", new { codes = Enumerable.Range(0, 1001).Select(i => Web(i)) })
            .ErrorAsync(HttpStatusCode.BadRequest, "at most 1,000");
    }

    [Fact]
    public async Task ABatchIsReadOnlyByItsTeamAndSentOnlyByEditors()
    {
        var tenant = await service.NewTenantAsync();
        var other = await service.NewTenantAsync();
        var batchId = await AcceptedAsync(await tenant.QrApi().PostJsonAsync("/api/qrs-api/bulk", new { codes = new[] { Web(1) } }));
        await other.QrApi().GetAsync($"/api/qrs-api/bulk/{batchId}").ErrorAsync(HttpStatusCode.NotFound, "Batch not found");
        await tenant.QrApi().GetAsync("/api/qrs-api/bulk/batch_none").ErrorAsync(HttpStatusCode.NotFound);
        var viewer = await tenant.MemberKeyAsync(QrFunctions.Auth.Role.Viewer);
        await tenant.QrApi(viewer).PostJsonAsync("/api/qrs-api/bulk", new { codes = new[] { Web(2) } }).ErrorAsync(HttpStatusCode.Forbidden);
        Assert.Equal(1, (await StatusAsync(tenant, batchId)).GetProperty("total").GetInt32());
        var viewed = await tenant.QrApi(viewer).GetAsync($"/api/qrs-api/bulk/{batchId}").DataAsync();
        Assert.Equal(batchId, viewed.GetProperty("batchId").GetString());
    }

    [Fact]
    public async Task AnEditorsBatchInAnApprovalTeamWaitsForApproval()
    {
        var tenant = await service.NewTenantAsync();
        Assert.Equal(HttpStatusCode.OK, (await tenant.V1().PatchJsonAsync($"/v1/workspaces/{tenant.TeamId}", new { approval_required = true })).StatusCode);
        var editor = await tenant.MemberKeyAsync(QrFunctions.Auth.Role.Editor);
        var displayId = "approve-" + Ids.Random(6);
        var batchId = await AcceptedAsync(await tenant.QrApi(editor).PostJsonAsync("/api/qrs-api/bulk", new { codes = new[] { Web(1, displayId) } }));
        await DrainAsync();

        var id = (await StatusAsync(tenant, batchId)).GetProperty("codes")[0].GetProperty("id").GetString();
        Assert.Equal("pending", (await tenant.QrApi().GetAsync($"/api/qrs-api/{id}").DataAsync()).GetProperty("approvalStatus").GetString());
        Assert.Equal(QrRoute.States.Pending, (await service.Storage.Routes.GetEntityAsync<TableEntity>(displayId, QrRoute.Row)).Value.GetString("State"));
    }

    private async Task<QrFunctions.Auth.Caller> CallerAsync(Tenant tenant)
    {
        var directory = service.Get<QrFunctions.Auth.TenantDirectory>();
        var key = (await directory.KeyAsync(tenant.OwnerKey.KeyId))!;
        return new QrFunctions.Auth.Caller(key, await directory.OrgAsync(tenant.OrgId), await directory.TeamAsync(tenant.TeamId), QrFunctions.Auth.Role.Owner);
    }
}
