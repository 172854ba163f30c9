using System.Collections.Concurrent;
using Azure.Data.Tables;
using Microsoft.Extensions.Caching.Memory;
using QrFunctions.Api;
using QrFunctions.Storage;

namespace QrFunctions.Qrs;

/// <summary>One page of a team's codes and the team's total.</summary>
public sealed record QrPage(IReadOnlyList<StoredQr> Qrs, int TotalCount);

/// <summary>
/// Listing and search. Without search a page is a range read of one sorted index (cost grows with the
/// page number, not with the team's size). Search (case-insensitive substring of name or displayId) runs
/// over an in-memory list per team, loaded once from the change rows and brought up to date on every
/// search with one range read of the rows changed since (minus an overlap that covers clock skew between
/// instances), so a search of 100,000 codes is a memory scan, not a table scan.
/// </summary>
/// <summary>What a list and an export of codes take from the query: order, search, folder.</summary>
public sealed record QrListQuery(string SortBy, string SortOrder, string Search, string? FolderId)
{
    private static readonly string[] SortFields = ["createdAt", "updatedAt", "name"];

    public static QrListQuery From(HttpRequest request)
    {
        var sortBy = request.Query["sortBy"].ToString() is { Length: > 0 } s ? s : "updatedAt";
        if (!SortFields.Contains(sortBy)) throw ApiProblem.BadRequest("sortBy must be one of createdAt, updatedAt, name.");
        var sortOrder = request.Query["sortOrder"].ToString() is { Length: > 0 } o ? o : "desc";
        if (sortOrder is not ("asc" or "desc")) throw ApiProblem.BadRequest("sortOrder must be asc or desc.");
        var search = request.Query["search"].ToString().Trim();
        if (search.Length > 255) throw ApiProblem.BadRequest("search must be at most 255 characters.");
        var folder = request.Query["folderId"].ToString();
        var folderId = folder.Length > 0 ? RequestJson.Id(folder, "folderId") : null;
        if (folderId is { Length: > 128 }) throw ApiProblem.BadRequest("folderId must be at most 128 characters.");
        return new QrListQuery(sortBy, sortOrder, search, folderId);
    }
}

public sealed class QrListing(StorageAccount storage, QrStore store, IMemoryCache cache)
{
    // Re-read window behind the newest change seen: covers clock skew between instances and the time between
    // a write taking its timestamp and committing. Anything later still is healed by the full reload below.
    private static readonly TimeSpan Overlap = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan FullReload = TimeSpan.FromMinutes(10);

    /// <param name="folderId">Only the codes in this folder (its folderId or one of its folderIds): the folder's own index and counter, so a page costs the same.</param>
    public async Task<QrPage> PageAsync(string teamId, string sortBy, string sortOrder, int page, int limit, CancellationToken ct, string? folderId = null)
    {
        var total = store.CountAsync(teamId, ct, folderId);
        var skip = (page - 1) * limit;
        var ids = new List<string>(limit);
        var seen = 0;
        await foreach (var row in storage.TeamData.QueryAsync<TableEntity>(TableQueries.PrefixFilter(teamId, QrKeys.IndexOf(folderId, sortBy, sortOrder)),
                           maxPerPage: Math.Min(1000, skip + limit), select: ["RowKey"], cancellationToken: ct))
        {
            if (seen++ < skip) continue;
            ids.Add(QrKeys.QrIdOf(row.RowKey));
            if (ids.Count == limit) break;
        }
        return new QrPage(await LoadAsync(teamId, ids, ct), await total);
    }

    public async Task<QrPage> SearchAsync(string teamId, string search, string sortBy, string sortOrder, int page, int limit, CancellationToken ct, string? folderId = null)
    {
        var matches = (await RefreshedAsync(teamId, ct)).Matching(search.ToLowerInvariant());
        if (folderId is not null) matches = matches.Where(e => e.Folders.Contains(folderId)).ToList();
        var ids = Sorted(matches, sortBy, sortOrder).Skip((page - 1) * limit).Take(limit).Select(e => e.QrId).ToList();
        return new QrPage(await LoadAsync(teamId, ids, ct), matches.Count);
    }

    private static IEnumerable<SearchEntry> Sorted(List<SearchEntry> matches, string sortBy, string sortOrder)
    {
        IEnumerable<SearchEntry> sorted = sortBy switch
        {
            "createdAt" => matches.OrderBy(e => e.CreatedAt),
            "name" => matches.OrderBy(e => e.NameLower, StringComparer.Ordinal),
            _ => matches.OrderBy(e => e.UpdatedAt),
        };
        return sortOrder == "desc" ? sorted.Reverse() : sorted;
    }

    /// <summary>Codes point-read at once while an export streams: its memory holds one group, not the team.</summary>
    public const int ExportGroup = 50;

    /// <summary>
    /// Every live code of the team in a list's order and search, read as the caller consumes it (the export): index keys a
    /// storage page at a time, codes point-read <see cref="ExportGroup"/> at once. A search's ids come from the in-memory list.
    /// </summary>
    public async IAsyncEnumerable<StoredQr> AllAsync(string teamId, QrListQuery query, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var ids = query.Search.Length > 0
            ? Sorted((await RefreshedAsync(teamId, ct)).Matching(query.Search.ToLowerInvariant()).Where(e => query.FolderId is null || e.Folders.Contains(query.FolderId)).ToList(),
                query.SortBy, query.SortOrder).Select(e => e.QrId).ToAsyncEnumerable()
            : storage.TeamData.QueryAsync<TableEntity>(TableQueries.PrefixFilter(teamId, QrKeys.IndexOf(query.FolderId, query.SortBy, query.SortOrder)),
                    maxPerPage: 1000, select: ["RowKey"], cancellationToken: ct)
                .Select(row => QrKeys.QrIdOf(row.RowKey));
        var group = new List<string>(ExportGroup);
        await foreach (var id in ids.WithCancellation(ct))
        {
            group.Add(id);
            if (group.Count < ExportGroup) continue;
            foreach (var qr in await LoadAsync(teamId, group, ct)) if (!qr.Deleted) yield return qr;
            group.Clear();
        }
        foreach (var qr in await LoadAsync(teamId, group, ct)) if (!qr.Deleted) yield return qr;
    }

    /// <summary>Codes changed after <paramref name="fromTime"/> (deleted ones included, so a sync client learns of deletions).</summary>
    public async Task<IReadOnlyList<StoredQr>> ChangedSinceAsync(string teamId, long fromTime, CancellationToken ct)
    {
        var ids = new List<string>();
        var filter = TableClient.CreateQueryFilter(
            $"PartitionKey eq {teamId} and RowKey gt {QrKeys.Change(fromTime, "~")} and RowKey lt {TableQueries.PrefixEnd(QrKeys.ChangePrefix)}");
        await foreach (var row in storage.TeamData.QueryAsync<TableEntity>(filter, select: ["QrId"], cancellationToken: ct))
            ids.Add(row.GetString("QrId"));
        return await LoadAsync(teamId, ids, ct);
    }

    private async Task<IReadOnlyList<StoredQr>> LoadAsync(string teamId, IReadOnlyList<string> ids, CancellationToken ct)
    {
        var loaded = await Task.WhenAll(ids.Select(id => store.FindAsync(teamId, id, ct)));
        return loaded.OfType<StoredQr>().ToList();
    }

    private async Task<TeamSearchList> RefreshedAsync(string teamId, CancellationToken ct)
    {
        var list = cache.GetOrCreate(("qr-search", teamId), e =>
        {
            e.AbsoluteExpirationRelativeToNow = FullReload;
            return new TeamSearchList();
        })!;
        await list.RefreshAsync(storage.TeamData, teamId, ct);
        return list;
    }

    internal sealed record SearchEntry(string QrId, string NameLower, string DisplayIdLower, long CreatedAt, long UpdatedAt, bool Deleted, string[] Folders);

    /// <summary>A team's codes in memory: name/displayId for matching, times for sorting.</summary>
    private sealed class TeamSearchList
    {
        private readonly ConcurrentDictionary<string, SearchEntry> _entries = new();
        private readonly SemaphoreSlim _refresh = new(1, 1);
        private long _watermark = -1;

        public List<SearchEntry> Matching(string term) =>
            _entries.Values.Where(e => !e.Deleted && (e.NameLower.Contains(term, StringComparison.Ordinal) || e.DisplayIdLower.Contains(term, StringComparison.Ordinal))).ToList();

        public async Task RefreshAsync(TableClient table, string teamId, CancellationToken ct)
        {
            await _refresh.WaitAsync(ct);
            try
            {
                var from = _watermark < 0 ? QrKeys.ChangePrefix : QrKeys.Change(Math.Max(0, _watermark - (long)Overlap.TotalMilliseconds), "");
                var filter = TableClient.CreateQueryFilter($"PartitionKey eq {teamId} and RowKey ge {from} and RowKey lt {TableQueries.PrefixEnd(QrKeys.ChangePrefix)}");
                await foreach (var row in table.QueryAsync<TableEntity>(filter, maxPerPage: 1000,
                                   select: ["QrId", "NameLower", "DisplayIdLower", "CreatedAt", "UpdatedAt", "Deleted", "Folders"], cancellationToken: ct))
                {
                    var entry = new SearchEntry(row.GetString("QrId"), row.GetString("NameLower") ?? "", row.GetString("DisplayIdLower") ?? "",
                        row.GetInt64("CreatedAt") ?? 0, row.GetInt64("UpdatedAt") ?? 0, row.GetBoolean("Deleted") == true,
                        System.Text.Json.JsonSerializer.Deserialize<string[]>(row.GetString("Folders") ?? "[]") ?? []);
                    _entries.AddOrUpdate(entry.QrId, entry, (_, old) => old.UpdatedAt > entry.UpdatedAt ? old : entry);
                    _watermark = Math.Max(_watermark, entry.UpdatedAt);
                }
                if (_watermark < 0) _watermark = 0;
            }
            finally
            {
                _refresh.Release();
            }
        }
    }
}
