using System.Text;

namespace QrFunctions.Qrs;

/// <summary>
/// RowKeys of a team's QR rows in the teamdata partition (PartitionKey = teamId):
///   qr|{qrId}                      the code (JSON in chunks), one point read
///   ix|{field}{dir}|{key}|{qrId}   list indexes for createdAt (c), updatedAt (u), name (n), ascending (a) and
///                                  descending (d): a page is a range read whose cost does not depend on team size
///   chg|{updatedAt}|{qrId}         one row per code (deleted ones too) ordered by last change: fromTime
///                                  queries and the incremental refresh of the in-memory search list
///   count|{0..7}                   sharded live-code counters (totalCount, plan limit), ETag-checked
///   fx|{folder}|{field}{dir}|{key}|{qrId}   the same six indexes per folder the code is in (folderId and folderIds), so a
///                                  folder's page is one range read too; {folder} = "{length}:{folderId}", so no folder's
///                                  prefix is another's (ids may hold '|')
///   fcount|{folder}|{0..7}          sharded live-code counters per folder (a folder's totalCount)
/// All of them change in the same entity-group transaction as the code and its audit entry.
/// </summary>
public static class QrKeys
{
    public const string QrPrefix = "qr|";
    public const string IndexPrefix = "ix|";
    public const string ChangePrefix = "chg|";
    public const string CounterPrefix = "count|";
    public const int CounterShards = 8;

    public static string Qr(string qrId) => QrPrefix + qrId;
    public static string Change(long updatedAt, string qrId) => $"{ChangePrefix}{Time(updatedAt)}|{qrId}";
    public static string Counter(int shard) => CounterPrefix + shard;

    public const string FolderIndexPrefix = "fx|";
    public const string FolderCounterPrefix = "fcount|";

    private static string Folder(string folderId) => $"{folderId.Length}:{folderId}";

    /// <summary>The counter row prefix of a folder ("fcount|{folder}|"), or of the team ("count|") when <paramref name="folderId"/> is null.</summary>
    public static string CounterPrefixOf(string? folderId) => folderId is null ? CounterPrefix : $"{FolderCounterPrefix}{Folder(folderId)}|";

    /// <summary>The index prefix of a sort within a folder (or the team's, when <paramref name="folderId"/> is null).</summary>
    public static string IndexOf(string? folderId, string sortBy, string sortOrder) =>
        folderId is null ? IndexOf(sortBy, sortOrder) : FolderIndexPrefix + Folder(folderId) + "|" + IndexOf(sortBy, sortOrder)[IndexPrefix.Length..];

    /// <summary>The index RowKeys of a live code: the team's six, and six more per folder it is in.</summary>
    public static IEnumerable<string> Indexes(string qrId, long createdAt, long updatedAt, string name, IEnumerable<string> folders)
    {
        var own = Indexes(qrId, createdAt, updatedAt, name).ToList();
        return own.Concat(folders.SelectMany(f => own.Select(k => FolderIndexPrefix + Folder(f) + "|" + k[IndexPrefix.Length..])));
    }

    /// <summary>The index prefix for a sort: sortBy createdAt|updatedAt|name, sortOrder asc|desc.</summary>
    public static string IndexOf(string sortBy, string sortOrder) =>
        $"{IndexPrefix}{sortBy switch { "createdAt" => 'c', "name" => 'n', _ => 'u' }}{(sortOrder == "asc" ? 'a' : 'd')}|";

    /// <summary>The six index RowKeys of a live code.</summary>
    public static IEnumerable<string> Indexes(string qrId, long createdAt, long updatedAt, string name)
    {
        yield return $"{IndexPrefix}ca|{Time(createdAt)}|{qrId}";
        yield return $"{IndexPrefix}cd|{Time(Inverted(createdAt))}|{qrId}";
        yield return $"{IndexPrefix}ua|{Time(updatedAt)}|{qrId}";
        yield return $"{IndexPrefix}ud|{Time(Inverted(updatedAt))}|{qrId}";
        yield return $"{IndexPrefix}na|{NameKey(name, descending: false)}|{qrId}";
        yield return $"{IndexPrefix}nd|{NameKey(name, descending: true)}|{qrId}";
    }

    public static string QrIdOf(string indexRowKey) => indexRowKey[(indexRowKey.LastIndexOf('|') + 1)..];

    private const long TimeSpace = 1_000_000_000_000_000; // epoch ms fit in 15 digits until the year 33658
    private static string Time(long ms) => Math.Clamp(ms, 0, TimeSpace - 1).ToString("D15");
    private static long Inverted(long ms) => TimeSpace - 1 - Math.Clamp(ms, 0, TimeSpace - 1);

    /// <summary>
    /// Case-insensitive name order as fixed-width hex per UTF-16 unit (table keys allow no '/', '#', '?', …).
    /// A terminator below '0' (asc) or above 'f' (desc) makes "ab" sort before "abc" ascending and after it descending.
    /// </summary>
    public static string NameKey(string name, bool descending)
    {
        var lower = name.ToLowerInvariant();
        if (lower.Length > 60) lower = lower[..60];
        var sb = new StringBuilder(lower.Length * 4 + 1);
        foreach (var c in lower) sb.Append((descending ? 0xFFFF - c : c).ToString("x4"));
        return sb.Append(descending ? '~' : '!').ToString();
    }
}
