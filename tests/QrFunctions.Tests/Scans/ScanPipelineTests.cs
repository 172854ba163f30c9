using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using Azure.Storage.Queues;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using QrFunctions.Analytics;
using QrFunctions.Hosting;
using QrFunctions.Scans;
using QrFunctions.Storage;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Scans;

public class ScanPipelineTests(ScanTestService service) : IClassFixture<ScanTestService>
{
    private static HttpRequestMessage Scan(string displayId, string userAgent, string ip, string? country = null, string? referrer = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/" + displayId);
        request.Headers.TryAddWithoutValidation("User-Agent", userAgent);
        request.Headers.TryAddWithoutValidation("X-Forwarded-For", ip);
        request.Headers.TryAddWithoutValidation("Accept-Language", "de-CH,de;q=0.9");
        if (country is not null) request.Headers.TryAddWithoutValidation(ScanTestService.CountryHeader, country);
        if (referrer is not null) request.Headers.Referrer = new Uri(referrer);
        return request;
    }

    private async Task<(Tenant Tenant, string DisplayId, string QrId)> WebCodeAsync()
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, qrId) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = "https://example.com/" });
        return (tenant, displayId, qrId);
    }

    [Fact]
    public async Task ScansAreCountedInOverviewsAfterAggregation()
    {
        var (tenant, displayId, qrId) = await WebCodeAsync();
        var client = service.Anonymous();
        Assert.Equal(HttpStatusCode.Found, (await client.SendAsync(Scan(displayId, FakeScanClients.IPhone, "203.0.113.7", "de", "https://news.example/a"))).StatusCode);
        Assert.Equal(HttpStatusCode.Found, (await client.SendAsync(Scan(displayId, FakeScanClients.IPhone, "203.0.113.7"))).StatusCode);   // same visitor again
        Assert.Equal(HttpStatusCode.Found, (await client.SendAsync(Scan(displayId, FakeScanClients.Android, "2001:db8:1234:5678::1"))).StatusCode);
        Assert.Equal(HttpStatusCode.Found, (await client.SendAsync(Scan(displayId, FakeScanClients.Crawler, "198.51.100.1"))).StatusCode);

        await service.AggregateAsync();

        var overview = await ScanTestService.OverviewAsync(tenant, qrId);
        Assert.Equal(qrId, (string)overview["id"]!);
        Assert.Equal(4, (long)overview["totalScans"]!);
        Assert.Equal(4, (long)overview["todayScans"]!);
        Assert.Equal(0, (long)overview["yesterdayScans"]!);
        Assert.Equal(3, (long)overview["humanScans"]!);
        Assert.Equal(1, (long)overview["botScans"]!);
        Assert.Equal(2, (long)overview["todayUniqueVisitors"]!);
        Assert.Equal(0, (long)overview["totalLeadsCount"]!);
        var today = DateTime.UtcNow;
        Assert.Equal($"{today.Month}/{today.Day}/{today.Year}", (string)overview["todayDate"]!);
        Assert.True((long)overview["updatedAt"]! >= (long)overview["createdAt"]!);
        Assert.True((long)overview["createdAt"]! > 0);

        var detailed = await tenant.QrApi().GetFromJsonAsync<JsonObject>($"/api/analytics-api/detailed/{qrId}");
        var scans = detailed!["data"]!.AsArray().Select(s => s!.AsObject()).ToList();
        Assert.Equal(4, scans.Count);
        Assert.True(scans.Zip(scans.Skip(1)).All(p => (long)p.First["scanTime"]! >= (long)p.Second["scanTime"]!), "newest first");
        var first = scans.Last();
        Assert.Equal("203.0.113.0", (string)first["ipAddress"]!);
        Assert.Equal("DE", (string)first["country"]!);
        Assert.Equal("mobile", (string)first["device"]!);
        Assert.Equal("iOS", (string)first["os"]!);
        Assert.Equal("https://news.example/a", (string)first["referrer"]!);
        Assert.Contains(scans, s => (string)s["ipAddress"]! == "2001:db8:1234::");
        Assert.Contains(scans, s => (string)s["device"]! == "bot");
        Assert.DoesNotContain(scans, s => s.ToJsonString().Contains("203.0.113.7") || s.ToJsonString().Contains("5678::1"));

        var breakdown = await tenant.QrApi().GetFromJsonAsync<JsonObject>($"/api/analytics-api/breakdown/{qrId}");
        var data = breakdown!["data"]!;
        Assert.Equal(4, (long)data["totalScans"]!);
        Assert.Equal(2, (long)data["breakdown"]!["os"]!["iOS"]!);
        Assert.Equal(1, (long)data["breakdown"]!["os"]!["Android"]!);
        Assert.Equal(1, (long)data["breakdown"]!["referrer"]!["news.example"]!);
        Assert.Equal(2, (long)data["breakdown"]!["referrer"]!["direct"]!);
        Assert.Equal(3, (long)data["breakdown"]!["language"]!["de-ch"]!);
    }

    [Fact]
    public async Task RawAddressIsNeverInTheQueueMessage()
    {
        var (_, displayId, qrId) = await WebCodeAsync();
        await service.Anonymous().SendAsync(Scan(displayId, FakeScanClients.Desktop, "192.0.2.200"));

        var queued = Assert.Single(await service.QueuedEventsAsync(), e => e.QrId == qrId);
        Assert.Equal("192.0.2.0", queued.IpAddress);
        Assert.Equal(32, queued.VisitorHash.Length);
        Assert.DoesNotContain("192.0.2.200", JsonSerializer.Serialize(queued, ScanBatch.Json));
    }

    private static ScanBatch Batch(Tenant tenant, string qrId, int count, long? scanTime = null, string? batchId = null, Func<int, string>? visitor = null) => new()
    {
        BatchId = batchId ?? Guid.NewGuid().ToString("N"),
        Events = Enumerable.Range(0, count).Select(i => new ScanEvent
        {
            QrId = qrId, TeamId = tenant.TeamId, OrgId = tenant.OrgId, ScanTime = (scanTime ?? Clock.NowMs()) - i, Device = "mobile", Os = "iOS", Browser = "Safari",
            IpAddress = "203.0.113.0", VisitorHash = visitor?.Invoke(i) ?? Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()),
        }).ToList(),
    };

    private static string Message(ScanBatch batch) => JsonSerializer.Serialize(batch, ScanBatch.Json);

    [Fact]
    public async Task RedeliveredBatchIsCountedOnce()
    {
        var tenant = await service.NewTenantAsync();
        var qrId = Ids.New("qr");
        var message = Message(Batch(tenant, qrId, 5));
        var aggregator = service.NewAggregator();

        await aggregator.AggregateAsync(message, CancellationToken.None);
        await aggregator.AggregateAsync(message, CancellationToken.None); // delivered again

        var overview = await ScanTestService.OverviewAsync(tenant, qrId);
        Assert.Equal(5, (long)overview["totalScans"]!);
        Assert.Equal(5, (long)overview["todayUniqueVisitors"]!);
        var detailed = await tenant.QrApi().GetFromJsonAsync<JsonObject>($"/api/analytics-api/detailed/{qrId}");
        Assert.Equal(5, detailed!["data"]!.AsArray().Count);
    }

    [Fact]
    public async Task OfTwoPositionsSharedForOneScanTheEarlierStaysWhateverOrderTheirBatchesArriveIn()
    {
        var tenant = await service.NewTenantAsync();
        var qrId = Ids.New("qr");
        var scan = Batch(tenant, qrId, 1);
        var scanned = scan.Events[0] with { ScanId = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()) };
        ScanBatch Shared(double latitude, double longitude, long answeredAt) => new()
        {
            BatchId = Guid.NewGuid().ToString("N"),
            Events = [scanned with { Kind = ScanEvent.Kinds.Location, Latitude = latitude, Longitude = longitude, AnsweredAt = answeredAt }],
        };
        var first = Shared(52.52, 13.41, answeredAt: 1_000);
        var doubleTap = Shared(1, 2, answeredAt: 1_001);
        var aggregator = service.NewAggregator();

        // Queue messages are not handled in the order they were written: the double tap's batch comes first.
        await aggregator.AggregateAsync(Message(new ScanBatch { BatchId = scan.BatchId, Events = [scanned] }), CancellationToken.None);
        await aggregator.AggregateAsync(Message(doubleTap), CancellationToken.None);
        await aggregator.AggregateAsync(Message(first), CancellationToken.None);
        await aggregator.AggregateAsync(Message(doubleTap), CancellationToken.None); // and is delivered again

        var overview = await ScanTestService.OverviewAsync(tenant, qrId);
        Assert.Equal((1L, 1L), ((long)overview["totalScans"]!, (long)overview["scansWithLocation"]!));
        var row = Assert.Single((await tenant.QrApi().GetAsync($"/api/analytics-api/detailed/{qrId}").DataAsync()).EnumerateArray());
        Assert.Equal((52.52, 13.41), (row.GetProperty("latitude").GetDouble(), row.GetProperty("longitude").GetDouble()));
    }

    [Fact]
    public async Task MessageCountedByAnEarlierBuildIsNotCountedAgainWhenRedeliveredAfterAnUpgrade()
    {
        var tenant = await service.NewTenantAsync();
        var qrId = Ids.New("qr");
        var counted = Batch(tenant, qrId, 2);
        var fresh = Batch(tenant, qrId, 3);
        // Builds before the "counted|{day}|{batchId}" markers wrote "applied|{batchId}" with the counts.
        await service.Storage.Table(service.Storage.Names.ScanStats).AddEntityAsync(new TableEntity(qrId, ScanStatRows.LegacyApplied(counted.BatchId)));

        await service.NewAggregator().AggregateAsync(Message(counted), CancellationToken.None);
        await service.NewAggregator().AggregateAsync(Message(fresh), CancellationToken.None);

        Assert.Equal(3, (long)(await ScanTestService.OverviewAsync(tenant, qrId))["totalScans"]!);
    }

    [Fact]
    public async Task RedeliveryAfterACrashBeforeTheCountersStillCountsItsNewVisitors()
    {
        var tenant = await service.NewTenantAsync();
        var qrId = Ids.New("qr");
        var batch = Batch(tenant, qrId, 3);
        // The first attempt got as far as recording the visitor sightings, then died before the counter transaction.
        var stats = service.Storage.Table(service.Storage.Names.ScanStats);
        foreach (var e in batch.Events)
            await stats.AddEntityAsync(new TableEntity(ScanStatRows.VisitorPartition(qrId, ScanStatRows.DayOf(e.ScanTime), e.VisitorHash), e.VisitorHash) { ["FirstBatch"] = batch.BatchId });

        await service.NewAggregator().AggregateAsync(Message(batch), CancellationToken.None);

        var overview = await ScanTestService.OverviewAsync(tenant, qrId);
        Assert.Equal(3, (long)overview["totalScans"]!);
        Assert.Equal(3, (long)overview["todayUniqueVisitors"]!);
    }

    [Fact]
    public async Task VisitorSeenInAnEarlierBatchIsNotUniqueAgain()
    {
        var tenant = await service.NewTenantAsync();
        var qrId = Ids.New("qr");
        var aggregator = service.NewAggregator();
        await aggregator.AggregateAsync(Message(Batch(tenant, qrId, 2, visitor: i => new string((char)('a' + i), 32))), CancellationToken.None);
        await aggregator.AggregateAsync(Message(Batch(tenant, qrId, 3, visitor: i => new string((char)('a' + i), 32))), CancellationToken.None);

        var overview = await ScanTestService.OverviewAsync(tenant, qrId);
        Assert.Equal(5, (long)overview["totalScans"]!);
        Assert.Equal(3, (long)overview["todayUniqueVisitors"]!);
    }

    [Fact]
    public async Task ConcurrentAggregatorsLoseNoIncrements()
    {
        var tenant = await service.NewTenantAsync();
        var qrId = Ids.New("qr");
        var messages = Enumerable.Range(0, 12).Select(i => Message(Batch(tenant, qrId, i + 1))).ToList();
        var one = service.NewAggregator();
        var two = service.NewAggregator();

        await Task.WhenAll(messages.Select((m, i) => Task.Run(() => (i % 2 == 0 ? one : two).AggregateAsync(m, CancellationToken.None))));

        var overview = await ScanTestService.OverviewAsync(tenant, qrId);
        Assert.Equal(Enumerable.Range(1, 12).Sum(), (long)overview["totalScans"]!);
        Assert.Equal(Enumerable.Range(1, 12).Sum(), (long)overview["todayUniqueVisitors"]!);
    }

    [Fact]
    public async Task ManyMessagesOfOneCodeWithRedeliveriesAmongThemAreCountedExactlyOnce()
    {
        var tenant = await service.NewTenantAsync();
        var qrId = Ids.New("qr");
        var messages = Enumerable.Range(0, 30).Select(i => Message(Batch(tenant, qrId, i % 4 + 1))).ToList();
        var aggregator = service.NewAggregator();

        // Every message twice, all at once: duplicates can land in the same counter transaction or a later one.
        await Task.WhenAll(messages.Concat(messages).Select(m => Task.Run(() => aggregator.AggregateAsync(m, CancellationToken.None))));

        var expected = Enumerable.Range(0, 30).Sum(i => i % 4 + 1);
        var overview = await ScanTestService.OverviewAsync(tenant, qrId);
        Assert.Equal(expected, (long)overview["totalScans"]!);
        Assert.Equal(expected, (long)overview["todayUniqueVisitors"]!);
        var detailed = await tenant.QrApi().GetFromJsonAsync<JsonObject>($"/api/analytics-api/detailed/{qrId}");
        Assert.Equal(expected, detailed!["data"]!.AsArray().Count);
    }

    [Fact]
    public async Task CountingACodeDeletesItsMarkersPastTheirRetentionAndKeepsRecentOnes()
    {
        var tenant = await service.NewTenantAsync();
        var qrId = Ids.New("qr");
        await MarkersWrittenAsync(qrId, DaysAgo(9), 3);
        var withinQueueLifetime = await MarkersWrittenAsync(qrId, DaysAgo(7), 2);
        var legacy = ScanStatRows.LegacyApplied(Guid.NewGuid().ToString("N"));
        await service.Storage.Table(service.Storage.Names.ScanStats).AddEntityAsync(new TableEntity(qrId, legacy));
        withinQueueLifetime.Add(legacy); // an earlier build's marker has no age in its key: it is left alone
        var batch = Batch(tenant, qrId, 4);

        await service.NewAggregator().AggregateAsync(Message(batch), CancellationToken.None);

        var newest = ScanStatRows.DayOf(batch.Events.Max(e => e.ScanTime));
        Assert.Equal([.. withinQueueLifetime.Append(ScanStatRows.Counted(newest, batch.BatchId)).Order(StringComparer.Ordinal)], await MarkerRowsAsync(qrId));
        Assert.Equal(4, (long)(await ScanTestService.OverviewAsync(tenant, qrId))["totalScans"]!);
    }

    [Fact]
    public async Task ConcurrentCountsThatPruneTheSameExpiredMarkersLoseNoIncrement()
    {
        var tenant = await service.NewTenantAsync();
        var qrId = Ids.New("qr");
        await MarkersWrittenAsync(qrId, DaysAgo(10), 2 * ScanBatchAggregator.MaxMarkersPrunedPerWrite);
        var messages = Enumerable.Range(0, 8).Select(i => Message(Batch(tenant, qrId, i + 1))).ToList();
        var one = service.NewAggregator();
        var two = service.NewAggregator();

        await Task.WhenAll(messages.Select((m, i) => Task.Run(() => (i % 2 == 0 ? one : two).AggregateAsync(m, CancellationToken.None))));

        Assert.Equal(Enumerable.Range(1, 8).Sum(), (long)(await ScanTestService.OverviewAsync(tenant, qrId))["totalScans"]!);
        Assert.DoesNotContain(await MarkerRowsAsync(qrId), key => key.StartsWith(ScanStatRows.Counted(DaysAgo(10), ""), StringComparison.Ordinal));
    }

    private static string DaysAgo(double days) => ScanStatRows.DayOf(Clock.NowMs() - (long)TimeSpan.FromDays(days).TotalMilliseconds);

    /// <summary>Markers of messages counted earlier whose newest scan was on <paramref name="day"/>; returns their RowKeys.</summary>
    private async Task<List<string>> MarkersWrittenAsync(string qrId, string day, int count)
    {
        var keys = Enumerable.Range(0, count).Select(_ => ScanStatRows.Counted(day, Guid.NewGuid().ToString("N"))).ToList();
        await service.Storage.Table(service.Storage.Names.ScanStats).SubmitTransactionAsync(
            keys.Select(key => new TableTransactionAction(TableTransactionActionType.Add, new TableEntity(qrId, key))));
        return keys;
    }

    /// <summary>RowKeys of the code's marker rows ("counted|" and legacy "applied|"), in key order.</summary>
    private async Task<List<string>> MarkerRowsAsync(string qrId)
    {
        var keys = new List<string>();
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {qrId}");
        await foreach (var row in service.Storage.Table(service.Storage.Names.ScanStats).QueryAsync<TableEntity>(filter, select: ["RowKey"]))
            if (row.RowKey.StartsWith(ScanStatRows.CountedPrefix, StringComparison.Ordinal) || row.RowKey.StartsWith(ScanStatRows.LegacyAppliedPrefix, StringComparison.Ordinal))
                keys.Add(row.RowKey);
        return keys.Order(StringComparer.Ordinal).ToList();
    }

    [Fact]
    public async Task BatchOlderThanAQueueMessageLivesIsRefusedUncountedWhileOldScansInARecentBatchCount()
    {
        var tenant = await service.NewTenantAsync();
        var qrId = Ids.New("qr");
        var stats = service.Storage.Table(service.Storage.Names.ScanStats);
        var aggregator = service.NewAggregator();
        var stale = Clock.NowMs() - (long)(ScanBatch.TimeToLive + TimeSpan.FromHours(2)).TotalMilliseconds;

        // Only a replay from the poison queue can be this old, and its redelivery marker may be pruned by now.
        await Assert.ThrowsAsync<StaleScanBatchException>(() => aggregator.AggregateAsync(Message(Batch(tenant, qrId, 3, scanTime: stale)), CancellationToken.None));
        Assert.False((await stats.GetEntityIfExistsAsync<TableEntity>(qrId, ScanStatRows.Total)).HasValue);

        // What counts is the newest scan: the message was sent after it.
        var mixed = Batch(tenant, qrId, 2);
        mixed.Events.Add(mixed.Events[0] with { ScanTime = stale });
        await aggregator.AggregateAsync(Message(mixed), CancellationToken.None);
        Assert.Equal(3, (long)(await ScanTestService.OverviewAsync(tenant, qrId))["totalScans"]!);
    }

    [Fact]
    public async Task MalformedMessageEndsInThePoisonQueue()
    {
        var queue = service.Storage.Queue(service.Storage.Names.ScanEventsQueue);
        var poison = service.Storage.Queue(StorageNames.PoisonQueueOf(queue.Name));
        await queue.SendMessageAsync("{\"batchId\":\"not-a-batch\"");
        var aggregator = service.NewAggregator();

        var poisoned = false;
        for (var round = 0; round < 200 && !poisoned; round++)
        {
            await LocalQueuePoller.DrainOnceAsync(queue, poison, aggregator.AggregateAsync, "AggregateScans", CancellationToken.None);
            poisoned = (await poison.PeekMessagesAsync(32)).Value.Any(m => m.Body.ToString().Contains("not-a-batch"));
            if (!poisoned) await Task.Delay(100); // a failed message becomes visible again after 200 ms
        }

        Assert.True(poisoned, "the malformed message should have been moved to the poison queue");
        Assert.DoesNotContain((await queue.PeekMessagesAsync(32)).Value, m => m.Body.ToString().Contains("not-a-batch"));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{\"batchId\":\"0123456789abcdef0123456789abcdef\",\"events\":[{\"q\":\"a/b\",\"t\":\"team\",\"ts\":1}]}")]
    [InlineData("{\"batchId\":\"0123456789abcdef0123456789abcdef\",\"events\":[{\"q\":\"qr_x\",\"t\":\"team\",\"ts\":0}]}")]
    [InlineData("{\"events\":[]}")]
    [InlineData("{\"batchId\":\"0123456789abcdef0123456789abcdef\",\"eventsGzip\":\"bm90IGd6aXA=\"}")]
    [InlineData("{\"batchId\":\"0123456789abcdef0123456789abcdef\",\"eventsGzip\":\"not base64!\"}")]
    public void MalformedBatchesAreRejected(string body)
    {
        Assert.Throws<FormatException>(() => ScanBatchAggregator.Parse(body));
    }

    [Fact]
    public async Task GroupCommitPutsManyScansInOneMessage()
    {
        var names = new StorageNames("g" + Ids.Random(10));
        var storage = new StorageAccount(service.Get<StorageConnection>(), names);
        var queue = storage.Queue(names.ScanEventsQueue);
        await queue.CreateAsync();
        try
        {
            var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["QrFunctions:ScanBatchMaxEvents"] = "4",
                ["QrFunctions:ScanBatchWindowMs"] = "60000", // only "full" or shutdown flushes here
                ["QrFunctions:ScanBatchMaxWrites"] = "0",
            }).Build();
            var batcher = new ScanEventBatcher(storage, config, NullLogger<ScanEventBatcher>.Instance);
            var events = Enumerable.Range(0, 10).Select(i => new ScanEvent { QrId = "qr_" + i, TeamId = "t", ScanTime = i + 1 }).ToList();

            var appended = events.Select(batcher.AppendAsync).ToList();
            await Task.WhenAll(appended.Take(8));                 // two full batches of 4 are written at once
            Assert.False(appended[8].IsCompleted || appended[9].IsCompleted);
            await batcher.StopAsync(CancellationToken.None);        // shutdown flushes the open batch of 2
            await Task.WhenAll(appended);

            var messages = (await queue.ReceiveMessagesAsync(32)).Value;
            var batches = messages.Select(m => ScanBatchAggregator.Parse(m.Body.ToString())).ToList();
            Assert.Equal([2, 4, 4], batches.Select(b => b.Events.Count).Order());
            Assert.Equal(3, batches.Select(b => b.BatchId).Distinct().Count());
            Assert.Equal(events.Select(e => e.QrId).Order(), batches.SelectMany(b => b.Events).Select(e => e.QrId).Order());
            // The aggregator keeps redelivery markers for MarkerRetention, which must cover a message's whole life in the queue.
            Assert.All(messages, m => Assert.InRange((m.ExpiresOn - m.InsertedOn)!.Value, ScanBatch.TimeToLive - TimeSpan.FromMinutes(1), ScanBatch.TimeToLive));
            Assert.True(ScanStatRows.MarkerRetention > ScanBatch.TimeToLive);
        }
        finally
        {
            await queue.DeleteIfExistsAsync();
        }
    }

    [Fact]
    public async Task ScansThatQueuedBehindAWriteAreWrittenTogetherWithTheirReturningScanners()
    {
        var names = new StorageNames("w" + Ids.Random(10));
        var storage = new StorageAccount(service.Get<StorageConnection>(), names);
        var queue = storage.Queue(names.ScanEventsQueue);
        await queue.CreateAsync();
        try
        {
            var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["QrFunctions:ScanBatchWindowMs"] = "60000", // no deadline flush in this test
                ["QrFunctions:ScanBatchMaxWrites"] = "1",
            }).Build();
            var batcher = new ScanEventBatcher(storage, config, NullLogger<ScanEventBatcher>.Instance);
            ScanEvent Scan(int i) => new() { QrId = "qr_" + i, TeamId = "t", ScanTime = i + 1 };

            // The writer is free: the first scan is written at once; the next four queue behind that write.
            var first = batcher.AppendAsync(Scan(0));
            var queued = Enumerable.Range(1, 4).Select(i => batcher.AppendAsync(Scan(i))).ToList();
            await first;
            // Five scans waited on storage together, so the next batch waits for a fifth instead of going out with four.
            Assert.All(queued, t => Assert.False(t.IsCompleted));
            var fifth = batcher.AppendAsync(Scan(5));
            await Task.WhenAll([.. queued, fifth]);

            var messages = (await queue.ReceiveMessagesAsync(32)).Value;
            Assert.Equal([1, 5], messages.Select(m => ScanBatchAggregator.Parse(m.Body.ToString()).Events.Count).Order());
            await batcher.StopAsync(CancellationToken.None);
        }
        finally
        {
            await queue.DeleteIfExistsAsync();
        }
    }

    private static async Task<int> StoredMessagesAsync(QueueClient queue) => (await queue.PeekMessagesAsync(32)).Value.Length;

    private static async Task WaitForStoredMessagesAsync(QueueClient queue, int count)
    {
        for (var i = 0; i < 500 && await StoredMessagesAsync(queue) < count; i++) await Task.Delay(10);
        Assert.Equal(count, await StoredMessagesAsync(queue));
    }

    /// <summary>Runs a test against a batcher whose queue writes reach Azurite through a relay that holds the answers until released.</summary>
    private async Task BehindHeldAnswersAsync(int windowMs, int stallMs, Func<ScanEventBatcher, QueueClient, StorageRelay, Task> test)
    {
        var names = new StorageNames("h" + Ids.Random(10));
        var queue = new StorageAccount(service.Get<StorageConnection>(), names).Queue(names.ScanEventsQueue);
        await queue.CreateAsync();
        await using var relay = new StorageRelay(service.Get<StorageConnection>().ConnectionString!, RelayedService.Queue);
        try
        {
            var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["QrFunctions:ScanBatchWindowMs"] = windowMs.ToString(),
                ["QrFunctions:ScanBatchStallMs"] = stallMs.ToString(),
                ["QrFunctions:ScanBatchMaxWrites"] = "1",
            }).Build();
            var batcher = new ScanEventBatcher(new StorageAccount(relay.Connection, names), config, NullLogger<ScanEventBatcher>.Instance);
            await test(batcher, queue, relay);
            await batcher.StopAsync(CancellationToken.None);
        }
        finally
        {
            relay.Release();
            await queue.DeleteIfExistsAsync();
        }
    }

    [Fact]
    public Task BatchPastItsWindowWaitsForTheWriteUnderWayInsteadOfWritingBesideIt() =>
        BehindHeldAnswersAsync(windowMs: 5, stallMs: 60_000, async (batcher, queue, relay) =>
        {
            var first = batcher.AppendAsync(new ScanEvent { QrId = "qr_0", TeamId = "t", ScanTime = 1 });
            await WaitForStoredMessagesAsync(queue, 1); // stored; its answer is held, so the write is still under way
            var behind = new[] { 1, 2 }.Select(i => batcher.AppendAsync(new ScanEvent { QrId = "qr_" + i, TeamId = "t", ScanTime = i + 1 })).ToList();

            await Task.Delay(300); // far past the 5 ms window
            Assert.Equal(1, await StoredMessagesAsync(queue));
            Assert.False(first.IsCompleted || behind.Any(t => t.IsCompleted));

            relay.Release();
            await Task.WhenAll([first, .. behind]);
            var messages = (await queue.ReceiveMessagesAsync(32)).Value;
            Assert.Equal([1, 2], messages.Select(m => ScanBatchAggregator.Parse(m.Body.ToString()).Events.Count).Order());
        });

    [Fact]
    public Task StalledWriteDoesNotHoldTheNextBatchPastTheStallBound() =>
        BehindHeldAnswersAsync(windowMs: 5, stallMs: 100, async (batcher, queue, relay) =>
        {
            var first = batcher.AppendAsync(new ScanEvent { QrId = "qr_0", TeamId = "t", ScanTime = 1 });
            await WaitForStoredMessagesAsync(queue, 1);
            var second = batcher.AppendAsync(new ScanEvent { QrId = "qr_1", TeamId = "t", ScanTime = 2 });

            await WaitForStoredMessagesAsync(queue, 2); // written beside the first, whose answer is still held
            Assert.False(first.IsCompleted);

            relay.Release();
            await Task.WhenAll(first, second);
        });

    [Fact]
    public async Task BatchThatCannotBeStoredFailsItsScans()
    {
        var storage = new StorageAccount(service.Get<StorageConnection>(), new StorageNames("missing" + Ids.Random(6)));
        var batcher = new ScanEventBatcher(storage, new ConfigurationBuilder().Build(), NullLogger<ScanEventBatcher>.Instance);

        await Assert.ThrowsAsync<ScanNotRecordedException>(() => batcher.AppendAsync(new ScanEvent { QrId = "qr_x", TeamId = "t", ScanTime = 1 }));
    }

    private static ScanEvent Largest(Random random)
    {
        // Every field at its clip length, filled with random letters so gzip cannot shrink it much.
        string Noise(int length) => new([.. Enumerable.Range(0, length).Select(_ => (char)random.Next(0x00e0, 0x0250))]);
        return new ScanEvent
        {
            QrId = "qr_" + Ids.Random(37), TeamId = Ids.Random(40), OrgId = Ids.Random(40), ScanTime = 9_000_000_000_000, Device = Ids.Random(16),
            Os = Noise(64), Browser = Noise(64), Country = "DE", City = Noise(64), IpAddress = "2001:db8:1234::",
            Referrer = Noise(512), Language = Ids.Random(35), IsBot = true, BotReason = Ids.Random(64), VisitorHash = Ids.Random(32),
        };
    }

    private static byte[] Serialized(ScanEvent e) => JsonSerializer.SerializeToUtf8Bytes(e, ScanBatch.Json);

    [Fact]
    public void FullBatchOfLargestEventsIsSplitIntoMessagesUnderTheQueueLimit()
    {
        var random = new Random(7);
        var events = Enumerable.Range(0, ScanEventBatcher.MaxEventsPerMessage).Select(_ => Largest(random)).ToList();

        var messages = ScanEventBatcher.Encode([.. events.Select(Serialized)]);

        Assert.True(messages.Count > 1, "incompressible events should not fit one message");
        Assert.All(messages, m => Assert.True(Convert.ToBase64String(m.ToArray()).Length < 64 * 1024, $"{m.ToArray().Length} bytes"));
        var batches = messages.Select(m => ScanBatchAggregator.Parse(m.ToString())).ToList();
        Assert.Equal(messages.Count, batches.Select(b => b.BatchId).Distinct().Count());
        Assert.Equal(events, batches.SelectMany(b => b.Events));
    }

    [Fact]
    public void FullBatchOfOneCodesScansFitsOneMessage()
    {
        var tenant = new { TeamId = Ids.Random(12), OrgId = Ids.Random(12) };
        var events = Enumerable.Range(0, ScanEventBatcher.MaxEventsPerMessage).Select(i => new ScanEvent
        {
            QrId = "qr_" + Ids.Random(12), TeamId = tenant.TeamId, OrgId = tenant.OrgId, ScanTime = 1_780_000_000_000 + i * 37, Device = "mobile", Os = "iOS",
            Browser = "Mobile Safari", Country = "DE", City = "Berlin", IpAddress = $"203.0.{i % 200}.0", Referrer = "", Language = "de-de",
            VisitorHash = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()),
        }).ToList();

        var message = Assert.Single(ScanEventBatcher.Encode([.. events.Select(Serialized)]));

        Assert.Equal(events, ScanBatchAggregator.Parse(message.ToString()).Events);
    }

    [Fact]
    public async Task CompressedBatchIsCountedLikeAPlainOne()
    {
        var tenant = await service.NewTenantAsync();
        var qrId = Ids.New("qr");
        var plain = Batch(tenant, qrId, 7);
        var message = Assert.Single(ScanEventBatcher.Encode([.. plain.Events.Select(Serialized)]));

        await service.NewAggregator().AggregateAsync(message.ToString(), CancellationToken.None);

        var overview = await ScanTestService.OverviewAsync(tenant, qrId);
        Assert.Equal(7, (long)overview["totalScans"]!);
        Assert.Equal(7, (long)overview["todayUniqueVisitors"]!);
    }

    [Fact]
    public async Task DetailedScansMergeEveryEventShardNewestFirst()
    {
        var tenant = await service.NewTenantAsync();
        var qrId = Ids.New("qr");
        var aggregator = service.NewAggregator();
        var now = Clock.NowMs() - 60_000;
        // One batch per shard digit; their scan times interleave, so only a merge of all shards is in time order.
        foreach (var (digit, k) in ScanEventRows.Shards.Select((d, k) => (d, k)))
        {
            var batch = Batch(tenant, qrId, 3, batchId: digit + Guid.NewGuid().ToString("N")[1..]);
            batch = batch with { Events = [.. batch.Events.Select((e, i) => e with { ScanTime = now - k - 16 * i })] };
            await aggregator.AggregateAsync(Message(batch), CancellationToken.None);
        }

        var detailed = await tenant.QrApi().GetFromJsonAsync<JsonObject>($"/api/analytics-api/detailed/{qrId}");

        var times = detailed!["data"]!.AsArray().Select(s => (long)s!["scanTime"]!).ToList();
        Assert.Equal(Enumerable.Range(0, 48).Select(n => now - n), times);
    }

    [Fact]
    public async Task DayRowRecordsWhichEventShardsHoldScans()
    {
        var tenant = await service.NewTenantAsync();
        var qrId = Ids.New("qr");
        var aggregator = service.NewAggregator();
        await aggregator.AggregateAsync(Message(Batch(tenant, qrId, 2, batchId: "3" + Guid.NewGuid().ToString("N")[1..])), CancellationToken.None);
        await aggregator.AggregateAsync(Message(Batch(tenant, qrId, 1, batchId: "c" + Guid.NewGuid().ToString("N")[1..])), CancellationToken.None);

        var stats = service.Storage.Table(service.Storage.Names.ScanStats);
        var day = (await stats.GetEntityAsync<TableEntity>(qrId, ScanStatRows.Day(ScanStatRows.DayOf(Clock.NowMs())))).Value;

        Assert.Equal((1 << 0x3) | (1 << 0xc), day.GetInt32(ScanStatRows.EventShards));
        Assert.Equal(['3', 'c'], ScanEventRows.ShardsIn(day.GetInt32(ScanStatRows.EventShards)));
        Assert.Equal(16, ScanEventRows.ShardsIn(null).Count());
    }

    [Fact]
    public void BatchThatInflatesBeyondTheLimitIsRejected()
    {
        var bomb = ScanBatch.Compress([new byte[ScanBatch.MaxEventsJsonBytes + 1]]);
        var body = ScanBatch.Message("0123456789abcdef0123456789abcdef", bomb).ToString();

        Assert.True(body.Length < 64 * 1024);
        Assert.Throws<FormatException>(() => ScanBatchAggregator.Parse(body));
    }
}

/// <summary>When the scan queue cannot be written, a scan is refused with 503 (the scanner retries) rather than served uncounted.</summary>
public class ScanQueueOutageTests(ScanTestService service) : IClassFixture<ScanTestService>
{
    [Fact]
    public async Task ScanIsRefusedWith503WhenItsEventCannotBeStored()
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, _) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = "https://example.com/" });
        await service.Storage.Queue(service.Storage.Names.ScanEventsQueue).DeleteAsync();

        var response = await service.Anonymous().GetAsync("/" + displayId);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Null(response.Headers.Location);
        Assert.NotNull(response.Headers.RetryAfter);
    }
}
