namespace QrFunctions.Scans;

/// <summary>
/// routes table, PartitionKey = displayId, RowKey = "": the one row a scan reads (and caches). It is
/// also the service-wide displayId reservation: inserting it is what makes a displayId taken, so
/// uniqueness holds under concurrency without a lock. Columns:
///   QrId, TeamId, OrgId  — owner of the code;
///   State                — "reserved" while a create/update is in flight, "live" when served, "pending" when
///                          reserved for content awaiting approval (nothing to serve yet);
///   Qr0…QrN              — the published Qr JSON (EntityJson), i.e. the approved content a scan serves;
///   UpdatedAt            — ms, for cache freshness checks.
/// Writes go through Qrs/ code; Scans/ only reads.
/// </summary>
public static class QrRoute
{
    public const string Row = "";
    public const string QrProperty = "Qr";

    public static class States
    {
        public const string Reserved = "reserved";
        public const string Live = "live";
        public const string Pending = "pending";
    }
}
