using System.Text.Json.Nodes;
using Azure;
using Azure.Data.Tables;
using Microsoft.Extensions.Caching.Memory;
using QrFunctions.Api;
using QrFunctions.AuditLogs;
using QrFunctions.Auth;
using QrFunctions.Rendering;
using QrFunctions.Scans;
using QrFunctions.Storage;
using QrFunctions.Teams;
using QrFunctions.Templates;

namespace QrFunctions.Qrs;

/// <summary>A stored code: its row (for the ETag and bookkeeping columns) and its JSON as the API returns it.</summary>
public sealed record StoredQr(TableEntity Row, JsonObject Doc)
{
    public string Id => Doc["id"]!.GetValue<string>();
    public string DisplayId => Doc["displayId"]!.GetValue<string>();
    public bool Deleted => Row.GetBoolean("Deleted") == true;
    public string? ApprovalStatus => Row.GetString("ApprovalStatus");

    /// <summary>The API view: the stored JSON (a password only as "passwordSet") plus the approval state where the team uses approvals.</summary>
    public JsonObject View()
    {
        var view = QrPasswords.ForView((JsonObject)Doc.DeepClone());
        if (ApprovalStatus is { } status) view["approvalStatus"] = status;
        return view;
    }
}

/// <summary>
/// Every write of a QR code. Order of a create: (1) insert the displayId's route row (the service-wide
/// reservation; a 409 means taken), (2) one transaction in the team partition: code row, index rows, change
/// row, a counter shard and the audit entry, (3) publish the content on the route row so scans serve it.
/// A failure in (2) releases the reservation. A crash between (2) and (3) leaves a code whose link answers
/// 404 until its next update republishes it; a crash between (1) and (2) leaves a reservation with no code,
/// which a later create of that displayId takes over after <see cref="StaleReservation"/>.
/// </summary>
public sealed class QrStore(StorageAccount storage, QrImages images, PlanCatalog plans, IMemoryCache cache, Webhooks.WebhookPublisher webhooks, IConfiguration configuration)
{
    public static readonly TimeSpan StaleReservation = TimeSpan.FromMinutes(5);
    private readonly string _publicBaseUrl = configuration["QrFunctions:PublicBaseUrl"] ?? "http://127.0.0.1:7071/";

    public async Task<StoredQr?> FindAsync(string teamId, string qrId, CancellationToken ct)
    {
        if (qrId.Length is 0 or > 64 || qrId.IndexOfAny(['/', '\\', '#', '?']) >= 0) return null;
        var row = await storage.TeamData.GetEntityIfExistsAsync<TableEntity>(teamId, QrKeys.Qr(qrId), cancellationToken: ct);
        return row.HasValue ? (await MigratePasswordsAsync(row.Value!, ct)).Qr : null;
    }

    /// <summary>
    /// Hashes the plaintext passwords a code stored before passwords were hashed: in its content, its last approved
    /// version and the route row scans read. Run by every read of the code and by `operator migrate-passwords`; the
    /// content is otherwise the same, so no audit entry. A concurrent write wins (it stored a hash itself).
    /// </summary>
    public async Task<(StoredQr Qr, IReadOnlyList<string> Changed)> MigratePasswordsAsync(TableEntity row, CancellationToken ct)
    {
        var doc = EntityJson.Read(row, "Doc")!;
        var approved = EntityJson.Read(row, "Approved");
        var changed = new List<string>();
        if (QrPasswords.MigrateLegacy(doc)) changed.Add("Doc");
        if (QrPasswords.MigrateLegacy(approved)) changed.Add("Approved");
        if (changed.Count == 0) return (new StoredQr(row, doc), changed);
        EntityJson.Write(row, "Doc", doc);
        if (approved is not null) EntityJson.Write(row, "Approved", approved);
        try
        {
            var response = await storage.TeamData.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Replace, ct);
            row.ETag = response.Headers.ETag ?? row.ETag;
        }
        catch (RequestFailedException ex) when (ex.Status is 404 or 412)
        {
            var fresh = await storage.TeamData.GetEntityIfExistsAsync<TableEntity>(row.PartitionKey, row.RowKey, cancellationToken: ct);
            return fresh.HasValue ? (new StoredQr(fresh.Value!, EntityJson.Read(fresh.Value!, "Doc")!), []) : (new StoredQr(row, doc), []);
        }
        var displayId = doc["displayId"]!.GetValue<string>();
        var route = await storage.Routes.GetEntityIfExistsAsync<TableEntity>(displayId, QrRoute.Row, cancellationToken: ct);
        if (route.HasValue && route.Value!.GetString("QrId") == doc["id"]!.GetValue<string>() && await MigrateRoutePasswordAsync(route.Value, ct)) changed.Add("route");
        return (new StoredQr(row, doc), changed);
    }

    /// <summary>Hashes a plaintext password in a route row's published content; true when it wrote.</summary>
    public async Task<bool> MigrateRoutePasswordAsync(TableEntity route, CancellationToken ct)
    {
        JsonObject? published;
        try { published = EntityJson.Read(route, QrRoute.QrProperty); }
        catch (System.Text.Json.JsonException) { return false; }
        if (!QrPasswords.MigrateLegacy(published)) return false;
        EntityJson.Write(route, QrRoute.QrProperty, published);
        try
        {
            await storage.Routes.UpdateEntityAsync(route, route.ETag, TableUpdateMode.Replace, ct);
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status is 404 or 412)
        {
            return false; // republished or released meanwhile, by code that stores hashes
        }
    }

    /// <summary>A live (not deleted) code of the team, or 404: other teams' codes are simply not in this partition.</summary>
    public async Task<StoredQr> GetLiveAsync(string teamId, string qrId, CancellationToken ct)
    {
        var qr = await FindAsync(teamId, qrId, ct);
        return qr is null || qr.Deleted ? throw ApiProblem.NotFound("QR code not found.") : qr;
    }

    /// <summary>The team's live codes, or those of one folder: the counter shards, one key range.</summary>
    public async Task<int> CountAsync(string teamId, CancellationToken ct, string? folderId = null)
    {
        var total = 0;
        await foreach (var shard in storage.TeamData.QueryAsync<TableEntity>(TableQueries.PrefixFilter(teamId, QrKeys.CounterPrefixOf(folderId)), select: ["Count"], cancellationToken: ct))
            total += shard.GetInt32("Count") ?? 0;
        return total;
    }

    /// <param name="bulk">
    /// A bulk item (Bulk/): its code id and generated displayIds derive from the batch and row, so a second attempt of the
    /// same item (a redelivered message, a crash, two attempts at once) finds the first's code instead of making another.
    /// </param>
    public async Task<StoredQr> CreateAsync(Caller caller, JsonObject request, CancellationToken ct, Bulk.BulkItem? bulk = null)
    {
        var team = caller.Team!;
        var qrId = bulk?.QrId ?? Ids.New("qr");
        if (bulk is not null && await FindAsync(team.Id, qrId, ct) is { } earlier) return await CompleteEarlierAttemptAsync(earlier, team, ct);
        var limits = plans.For(caller.Org!);
        if (limits.MaxQrCodesPerTeam is { } max && await CountAsync(team.Id, ct) >= max)
            throw ApiProblem.BadRequest($"QR code limit reached: the {caller.Org!.Plan} plan allows {max} codes per team.");

        var displayId = request["displayId"]?.GetValue<string>();
        if (displayId is null)
        {
            for (var i = 0; ; i++)
            {
                displayId = bulk?.GeneratedDisplayId(i) ?? Ids.Random(8);
                if (await TryReserveAsync(displayId, qrId, team, ct)) break;
                if (i == 5) throw new InvalidOperationException("Could not generate a free displayId.");
            }
        }
        else if (!await TryReserveAsync(displayId, qrId, team, ct))
        {
            throw ApiProblem.BadRequest("displayId already exists!");
        }

        try
        {
            var now = Clock.NowMs();
            var doc = (JsonObject)request.DeepClone();
            doc["id"] = qrId;
            doc["displayId"] = displayId;
            doc["teamId"] = team.Id;
            doc["orgId"] = team.OrgId;
            doc["folderId"] ??= null;
            doc["folderIds"] ??= new JsonArray();
            doc["batchId"] = bulk?.BatchId;
            doc["deleted"] = false;
            doc["expiryDate"] ??= null;
            doc["createdAt"] = now;
            doc["createdBy"] = caller.ActorId;
            doc["updatedAt"] = now;
            doc["updatedBy"] = caller.ActorId;
            doc["qrRedirectUrl"] ??= null;
            QrPasswords.Protect(doc, previous: null);
            await RenderAsync(doc, team, logoBlob: null, ct);

            var pending = NeedsApproval(caller);
            var row = new TableEntity(team.Id, QrKeys.Qr(qrId));
            Fill(row, doc, pending ? "pending" : team.ApprovalRequired ? "approved" : null);
            if (team.ApprovalRequired && !pending) EntityJson.Write(row, "Approved", doc);

            var actions = new List<TableTransactionAction> { new(TableTransactionActionType.Add, row) };
            var folders = QrRequest.FoldersOf(doc);
            actions.AddRange(QrKeys.Indexes(qrId, now, now, Name(doc), folders).Select(k => Add(team.Id, k, qrId)));
            actions.Add(ChangeRow(team.Id, doc, deleted: false));
            actions.Add(new(TableTransactionActionType.Add, AuditEntry.For(team.Id, caller, "codes.created", "codes", qrId,
                AuditEntry.Diff(null, doc, "createdAt", "updatedAt", "createdBy", "updatedBy"))));
            try
            {
                await SubmitWithCountersAsync(team.Id, actions, [(null, +1), .. folders.Select(f => ((string?)f, +1))], ct);
            }
            catch (TableTransactionFailedException ex) when (bulk is not null && ex.Status == 409 && ex.FailedTransactionActionIndex == 0)
            {
                // Another attempt at the same bulk item committed first: its code stands, and the displayId is its, not ours to release.
                if (await FindAsync(team.Id, qrId, ct) is not { } concurrent) throw;
                return await CompleteEarlierAttemptAsync(concurrent, team, ct);
            }

            await PublishAsync(displayId, qrId, team, pending ? null : doc, ct);
            await webhooks.PublishAsync(team.Id, "codes.created", QrPasswords.ForView((JsonObject)doc.DeepClone()), ct);
            return new StoredQr(row, doc);
        }
        catch
        {
            await ReleaseAsync(displayId, qrId, CancellationToken.None);
            throw;
        }
    }

    /// <summary>
    /// A bulk item's code an earlier attempt wrote: if that attempt stopped before publishing (its displayId still only
    /// reserved), publish it now, as the create would have; otherwise it stands as it is (it may have been changed since).
    /// </summary>
    private async Task<StoredQr> CompleteEarlierAttemptAsync(StoredQr earlier, Team team, CancellationToken ct)
    {
        if (earlier.Deleted) return earlier;
        var route = await storage.Routes.GetEntityIfExistsAsync<TableEntity>(earlier.DisplayId, QrRoute.Row, ["State", "QrId"], ct);
        if (!route.HasValue || (route.Value!.GetString("State") == QrRoute.States.Reserved && route.Value.GetString("QrId") == earlier.Id))
            await PublishAsync(earlier.DisplayId, earlier.Id, team,
                earlier.ApprovalStatus == "pending" ? null : EntityJson.Read(earlier.Row, "Approved") ?? earlier.Doc, ct);
        return earlier;
    }

    /// <summary>
    /// Applies <paramref name="change"/> to the code's current JSON and stores it (ETag-checked; a concurrent
    /// write makes it re-read and re-apply). A changed displayId is reserved first and the old one released last.
    /// </summary>
    public async Task<StoredQr> UpdateAsync(Caller caller, string qrId, Func<JsonObject, JsonObject> change, CancellationToken ct,
        string action = "codes.updated", string? logoBlob = null, string? decision = null, bool publish = true)
    {
        var team = caller.Team!;
        for (var attempt = 0; ; attempt++)
        {
            var current = await GetLiveAsync(team.Id, qrId, ct);
            var before = current.Doc;
            var doc = change((JsonObject)before.DeepClone());
            QrPasswords.Protect(doc, before);
            var now = Math.Max(Clock.NowMs(), before["updatedAt"]!.GetValue<long>() + 1);
            doc["updatedAt"] = now;
            doc["updatedBy"] = caller.ActorId;
            var oldDisplayId = current.DisplayId;
            var newDisplayId = doc["displayId"]!.GetValue<string>();
            var displayIdChanged = !string.Equals(oldDisplayId, newDisplayId, StringComparison.Ordinal);
            if (displayIdChanged && !await TryReserveAsync(newDisplayId, qrId, team, ct))
                throw ApiProblem.BadRequest("displayId already exists!");
            try
            {
                logoBlob ??= current.Row.GetString("LogoBlob");
                await RenderAsync(doc, team, logoBlob, ct);
                var pending = decision is null && NeedsApproval(caller);
                var row = new TableEntity(team.Id, QrKeys.Qr(qrId)) { ETag = current.Row.ETag };
                Fill(row, doc, decision ?? (pending ? "pending" : team.ApprovalRequired ? "approved" : null));
                if (logoBlob is not null) row["LogoBlob"] = logoBlob;
                if (team.ApprovalRequired) EntityJson.Write(row, "Approved", pending || !publish ? Migrated(EntityJson.Read(current.Row, "Approved")) : doc);

                var actions = new List<TableTransactionAction> { new(TableTransactionActionType.UpdateReplace, row, current.Row.ETag) };
                var created = before["createdAt"]!.GetValue<long>();
                // Folders of codes stored before folder indexes existed are in the Doc but not indexed: the FolderIndexed column says.
                var oldFolders = current.Row.GetBoolean("FolderIndexed") == true ? QrRequest.FoldersOf(before) : [];
                var newFolders = QrRequest.FoldersOf(doc);
                var oldKeys = QrKeys.Indexes(qrId, created, before["updatedAt"]!.GetValue<long>(), Name(before), oldFolders).ToHashSet();
                var newKeys = QrKeys.Indexes(qrId, created, now, Name(doc), newFolders).ToHashSet();
                actions.AddRange(oldKeys.Except(newKeys).Select(k => new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(team.Id, k), ETag.All)));
                actions.AddRange(newKeys.Except(oldKeys).Select(k => Add(team.Id, k, qrId)));
                actions.Add(new(TableTransactionActionType.Delete, new TableEntity(team.Id, QrKeys.Change(before["updatedAt"]!.GetValue<long>(), qrId)), ETag.All));
                actions.Add(ChangeRow(team.Id, doc, deleted: false));
                actions.Add(new(TableTransactionActionType.Add, AuditEntry.For(team.Id, caller, action, "codes", qrId,
                    AuditEntry.Diff(before, doc, "updatedAt", "updatedBy"))));
                var moved = oldFolders.Except(newFolders).Select(f => ((string?)f, -1)).Concat(newFolders.Except(oldFolders).Select(f => ((string?)f, +1))).ToList();
                if (moved.Count > 0) await SubmitWithCountersAsync(team.Id, actions, moved, ct);
                else await storage.TeamData.SubmitTransactionAsync(actions, ct);

                if (!pending && publish)
                {
                    await PublishAsync(newDisplayId, qrId, team, doc, ct);
                    if (displayIdChanged) await ReleaseAsync(oldDisplayId, qrId, ct);
                }
                await webhooks.PublishAsync(team.Id, "codes.updated", QrPasswords.ForView((JsonObject)doc.DeepClone()), ct);
                return new StoredQr(row, doc);
            }
            catch (TableTransactionFailedException ex) when (ex.Status == 412 && attempt < 5)
            {
                if (displayIdChanged) await ReleaseAsync(newDisplayId, qrId, CancellationToken.None);
                // Someone else changed the code in between: start again from what they wrote.
            }
            catch
            {
                if (displayIdChanged) await ReleaseAsync(newDisplayId, qrId, CancellationToken.None);
                throw;
            }
        }
    }

    /// <summary>Soft delete: the row stays (deleted: true), indexes go, the scan link stops; the displayId stays taken so a printed code can never be hijacked.</summary>
    public async Task<StoredQr> DeleteAsync(Caller caller, string qrId, CancellationToken ct)
    {
        var team = caller.Team!;
        var current = await GetLiveAsync(team.Id, qrId, ct);
        var doc = (JsonObject)current.Doc.DeepClone();
        QrPasswords.Protect(doc, previous: null);
        var before = current.Doc;
        var now = Math.Max(Clock.NowMs(), before["updatedAt"]!.GetValue<long>() + 1);
        doc["deleted"] = true;
        doc["updatedAt"] = now;
        doc["updatedBy"] = caller.ActorId;
        var row = new TableEntity(team.Id, QrKeys.Qr(qrId));
        Fill(row, doc, current.ApprovalStatus);
        row["Deleted"] = true;
        if (current.Row.GetString("LogoBlob") is { } logo) row["LogoBlob"] = logo;

        var folders = current.Row.GetBoolean("FolderIndexed") == true ? QrRequest.FoldersOf(before) : [];
        var actions = new List<TableTransactionAction> { new(TableTransactionActionType.UpdateReplace, row, current.Row.ETag) };
        actions.AddRange(QrKeys.Indexes(qrId, before["createdAt"]!.GetValue<long>(), before["updatedAt"]!.GetValue<long>(), Name(before), folders)
            .Select(k => new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(team.Id, k), ETag.All)));
        actions.Add(new(TableTransactionActionType.Delete, new TableEntity(team.Id, QrKeys.Change(before["updatedAt"]!.GetValue<long>(), qrId)), ETag.All));
        actions.Add(ChangeRow(team.Id, doc, deleted: true));
        actions.Add(new(TableTransactionActionType.Add, AuditEntry.For(team.Id, caller, "codes.deleted", "codes", qrId,
            new JsonObject { ["deleted"] = new JsonObject { ["before"] = false, ["after"] = true } })));
        try
        {
            await SubmitWithCountersAsync(team.Id, actions, [(null, -1), .. folders.Select(f => ((string?)f, -1))], ct);
        }
        catch (TableTransactionFailedException ex) when (ex.Status == 412 && ex.FailedTransactionActionIndex == 0)
        {
            throw ApiProblem.Conflict("The QR code changed while it was being deleted; try again.");
        }
        await storage.Routes.UpsertEntityAsync(new TableEntity(current.DisplayId, QrRoute.Row)
        {
            ["QrId"] = qrId, ["TeamId"] = team.Id, ["OrgId"] = team.OrgId, ["State"] = "deleted", ["UpdatedAt"] = now,
        }, TableUpdateMode.Replace, ct);
        row.ETag = default;
        await webhooks.PublishAsync(team.Id, "codes.deleted", QrPasswords.ForView((JsonObject)doc.DeepClone()), ct);
        return new StoredQr(row, doc);
    }

    /// <summary>
    /// Approval workflow: approve publishes the code's current content; reject goes back to the last approved
    /// content (a code never approved stays unpublished). Both are updates, so indexes and the audit log follow.
    /// </summary>
    public async Task<StoredQr> DecideAsync(Caller caller, string qrId, bool approve, CancellationToken ct)
    {
        var current = await GetLiveAsync(caller.TeamId, qrId, ct);
        if (current.ApprovalStatus != "pending") throw ApiProblem.BadRequest("This QR code has no change waiting for approval.");
        var approved = EntityJson.Read(current.Row, "Approved");
        return await UpdateAsync(caller, qrId, doc =>
            {
                if (approve || approved is null) return doc;
                var restored = (JsonObject)approved.DeepClone();
                foreach (var f in new[] { "createdAt", "createdBy", "updatedAt", "deleted" }) restored[f] = doc[f]?.DeepClone();
                return restored;
            }, ct, approve ? "codes.approved" : "codes.rejected",
            decision: approve ? "approved" : "rejected", publish: approve || approved is not null);
    }

    public string ScanUrlOf(JsonObject doc, Team team)
    {
        var baseUrl = doc["baseUrl"]?.GetValue<string>()
            ?? (team.DefaultDomain is { Length: > 0 } domain ? $"https://{domain}/" : _publicBaseUrl);
        return baseUrl + doc["displayId"]!.GetValue<string>();
    }

    private bool NeedsApproval(Caller caller) => caller.Team!.ApprovalRequired && caller.Role < Role.Admin;

    private async Task<string?> DesignAsync(string teamId, string templateId, CancellationToken ct) =>
        await cache.GetOrCreateAsync(("template", teamId, templateId), async e =>
        {
            e.AbsoluteExpirationRelativeToNow = TimeSpan.FromSeconds(30);
            var template = await storage.TeamData.GetEntityIfExistsAsync<DesignTemplate>(teamId, DesignTemplate.RowPrefix + templateId, cancellationToken: ct);
            return template.HasValue ? template.Value!.Design : null;
        });

    /// <summary>What the code's image is made of now: its scan URL, its template's design (the default design if the template is gone) and its logo.</summary>
    public async Task<QrImageInput> ImageInputAsync(StoredQr qr, CancellationToken ct)
    {
        var teamId = qr.Row.PartitionKey;
        var design = await DesignAsync(teamId, qr.Doc["templateId"]?.GetValue<string>() ?? "default", ct) ?? DesignTemplate.DefaultDesign;
        return new QrImageInput(qr.Doc["scanUrl"]!.GetValue<string>(), design, qr.Row.GetString("LogoBlob"));
    }

    private async Task RenderAsync(JsonObject doc, Team team, string? logoBlob, CancellationToken ct)
    {
        doc["scanUrl"] = ScanUrlOf(doc, team);
        var templateId = doc["templateId"]?.GetValue<string>() ?? "default";
        var design = await DesignAsync(team.Id, templateId, ct) ?? throw ApiProblem.BadRequest($"templateId '{templateId}' is not a template of this team.");
        var input = new QrImageInput(doc["scanUrl"]!.GetValue<string>(), design, logoBlob);
        var hash = QrImages.HashOf(input);
        if (doc["qrImageHash"]?.GetValue<string>() == hash) return; // same inputs: the image is already there
        await images.EnsureAsync(input, ct);
        doc["qrImageHash"] = hash;
        doc["qrImageUrl"] = images.UrlOf(hash);
    }

    private async Task<bool> TryReserveAsync(string displayId, string qrId, Team team, CancellationToken ct)
    {
        var reservation = new TableEntity(displayId, QrRoute.Row)
        {
            ["QrId"] = qrId, ["TeamId"] = team.Id, ["OrgId"] = team.OrgId, ["State"] = QrRoute.States.Reserved, ["UpdatedAt"] = Clock.NowMs(),
        };
        try
        {
            await storage.Routes.AddEntityAsync(reservation, ct);
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            // Taken, unless it is a reservation abandoned by a crash: old, and its code never got written.
            var existing = await storage.Routes.GetEntityIfExistsAsync<TableEntity>(displayId, QrRoute.Row, cancellationToken: ct);
            if (!existing.HasValue) return false;
            var row = existing.Value!;
            // This code's own: an earlier attempt of the same bulk item reserved it, or the code moves back to a displayId it still holds.
            if (row.GetString("QrId") == qrId && row.GetString("TeamId") == team.Id) return true;
            if (row.GetString("State") != QrRoute.States.Reserved
                || Clock.NowMs() - (row.GetInt64("UpdatedAt") ?? 0) < StaleReservation.TotalMilliseconds) return false;
            var owner = await storage.TeamData.GetEntityIfExistsAsync<TableEntity>(row.GetString("TeamId"), QrKeys.Qr(row.GetString("QrId")), ["RowKey"], ct);
            if (owner.HasValue) return false;
            try
            {
                await storage.Routes.UpdateEntityAsync(reservation, row.ETag, TableUpdateMode.Replace, ct);
                return true;
            }
            catch (RequestFailedException taken) when (taken.Status == 412)
            {
                return false;
            }
        }
    }

    /// <summary>Frees a displayId this code holds (never one another code took in between).</summary>
    private async Task ReleaseAsync(string displayId, string qrId, CancellationToken ct)
    {
        var row = await storage.Routes.GetEntityIfExistsAsync<TableEntity>(displayId, QrRoute.Row, cancellationToken: ct);
        if (row.HasValue && row.Value!.GetString("QrId") == qrId)
        {
            try { await storage.Routes.DeleteEntityAsync(displayId, QrRoute.Row, row.Value.ETag, ct); }
            catch (RequestFailedException ex) when (ex.Status is 404 or 412) { }
        }
    }

    /// <summary>Makes <paramref name="doc"/> what scans of <paramref name="displayId"/> serve; null keeps the displayId held with nothing to serve yet.</summary>
    private async Task PublishAsync(string displayId, string qrId, Team team, JsonObject? doc, CancellationToken ct)
    {
        var route = new TableEntity(displayId, QrRoute.Row)
        {
            ["QrId"] = qrId, ["TeamId"] = team.Id, ["OrgId"] = team.OrgId,
            ["State"] = doc is null ? QrRoute.States.Pending : QrRoute.States.Live, ["UpdatedAt"] = Clock.NowMs(),
        };
        EntityJson.Write(route, QrRoute.QrProperty, doc);
        await storage.Routes.UpsertEntityAsync(route, TableUpdateMode.Replace, ct);
    }

    /// <summary>
    /// Commits <paramref name="actions"/> with one shard of each counter moved by its delta (null: the team's count, else a folder's),
    /// each ETag-checked; a shard another write moved first makes it pick shards again.
    /// </summary>
    private async Task SubmitWithCountersAsync(string teamId, List<TableTransactionAction> actions, IReadOnlyList<(string? Folder, int Delta)> counters, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            var keys = counters.Select(c => QrKeys.CounterPrefixOf(c.Folder) + Random.Shared.Next(QrKeys.CounterShards)).ToList();
            var existing = await Task.WhenAll(keys.Select(k => storage.TeamData.GetEntityIfExistsAsync<TableEntity>(teamId, k, cancellationToken: ct)));
            var moves = counters.Select((c, i) => existing[i].HasValue
                ? new TableTransactionAction(TableTransactionActionType.UpdateMerge, new TableEntity(teamId, keys[i]) { ["Count"] = (existing[i].Value!.GetInt32("Count") ?? 0) + c.Delta }, existing[i].Value!.ETag)
                : new TableTransactionAction(TableTransactionActionType.Add, new TableEntity(teamId, keys[i]) { ["Count"] = c.Delta }));
            try
            {
                await storage.TeamData.SubmitTransactionAsync([.. actions, .. moves], ct);
                return;
            }
            catch (TableTransactionFailedException ex) when (ex.FailedTransactionActionIndex >= actions.Count && ex.Status is 409 or 412 && attempt < 20)
            {
                // Another write moved one of these counter shards first; pick shards again.
            }
        }
    }

    private static void Fill(TableEntity row, JsonObject doc, string? approvalStatus)
    {
        EntityJson.Write(row, "Doc", doc);
        row["DisplayId"] = doc["displayId"]!.GetValue<string>();
        row["Deleted"] = doc["deleted"]?.GetValue<bool>() == true;
        row["CreatedAt"] = doc["createdAt"]!.GetValue<long>();
        row["UpdatedAt"] = doc["updatedAt"]!.GetValue<long>();
        row["FolderIndexed"] = true; // its folders (if any) have index rows: set by every write of this build
        if (approvalStatus is not null) row["ApprovalStatus"] = approvalStatus;
        else row.Remove("ApprovalStatus");
    }

    private static TableTransactionAction ChangeRow(string teamId, JsonObject doc, bool deleted) => new(TableTransactionActionType.Add,
        new TableEntity(teamId, QrKeys.Change(doc["updatedAt"]!.GetValue<long>(), doc["id"]!.GetValue<string>()))
        {
            ["QrId"] = doc["id"]!.GetValue<string>(),
            ["NameLower"] = Name(doc).ToLowerInvariant(),
            ["DisplayIdLower"] = doc["displayId"]!.GetValue<string>().ToLowerInvariant(),
            ["CreatedAt"] = doc["createdAt"]!.GetValue<long>(),
            ["UpdatedAt"] = doc["updatedAt"]!.GetValue<long>(),
            ["Name"] = Name(doc),
            ["Deleted"] = deleted,
            ["Folders"] = System.Text.Json.JsonSerializer.Serialize(QrRequest.FoldersOf(doc)),
        });

    private static JsonObject? Migrated(JsonObject? doc)
    {
        QrPasswords.MigrateLegacy(doc);
        return doc;
    }

    private static TableTransactionAction Add(string teamId, string rowKey, string qrId) =>
        new(TableTransactionActionType.Add, new TableEntity(teamId, rowKey) { ["QrId"] = qrId });

    private static string Name(JsonObject doc) => doc["name"]?.GetValue<string>() ?? "Untitled";
}
