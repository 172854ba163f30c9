using System.Text.Json.Serialization;
using QrFunctions.Storage;

namespace QrFunctions.Bulk;

/// <summary>
/// bulkbatches table, one partition per batch (PartitionKey = batchId):
///   RowKey "batch"          the header: TeamId, OrgId, the accepting key (KeyId, KeyScope, UserEmail) and its Role, Total,
///                           Source (json | csv), CreatedAt. Written last, after every item, so a header means a whole batch.
///   RowKey "item|{0000}"    one row per code, in the batch's order: State (pending | done | failed), QrId (derived, below),
///                           Request0…N (the validated code definition, EntityJson) and SealedPassword (a code password sealed
///                           with the service's key ring until the code is created and it is hashed) while pending; then
///                           DisplayId, ImageUrl, DoneAt, or Error and Field.
/// A batch's own partition: its ≤ 1,000 item rows go in 100-row transactions, the status is one range read, and the team's
/// partition (list indexes, counters) does not grow with batch bookkeeping. The header's TeamId is the ownership check.
/// </summary>
public static class BulkRows
{
    public const string Header = "batch";
    public const string ItemPrefix = "item|";
    public const int MaxItems = 1_000;

    public static string Item(int index) => $"{ItemPrefix}{index:D4}";
    public static int IndexOf(string rowKey) => int.Parse(rowKey.AsSpan(ItemPrefix.Length), System.Globalization.CultureInfo.InvariantCulture);

    public static class States
    {
        public const string Pending = "pending";
        public const string Done = "done";
        public const string Failed = "failed";
    }

    /// <summary>The context a sealed password is bound to: it opens only for this batch's row.</summary>
    public static string PasswordContext(string batchId, int index) => $"bulk|{batchId}|{index}";
}

/// <summary>
/// One code of a batch. Its code id and the displayIds it tries when the row names none derive from (batchId, index), so every
/// attempt at the item (a redelivered message, a retry after a crash, two deliveries at once) names the same code and the same
/// reservation, and the second finds the first's work (QrStore.CreateAsync). batchIds are random, so derived ids are unguessable too.
/// </summary>
public sealed record BulkItem(string BatchId, int Index)
{
    public string QrId => "qr_" + Ids.Derived($"{BatchId}|{Index}|qr", 16);
    public string GeneratedDisplayId(int attempt) => Ids.Derived($"{BatchId}|{Index}|displayId|{attempt}", 8);
}

/// <summary>A bulk-create queue message: rows [First, First + Count) of a batch. The API queues one for the whole batch; the function splits it into chunks.</summary>
public sealed record BulkWork(
    [property: JsonPropertyName("batchId")] string BatchId,
    [property: JsonPropertyName("first")] int First,
    [property: JsonPropertyName("count")] int Count);
