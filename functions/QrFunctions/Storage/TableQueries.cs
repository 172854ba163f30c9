using Azure.Data.Tables;

namespace QrFunctions.Storage;

public static class TableQueries
{
    /// <summary>All rows of one partition whose RowKey starts with <paramref name="prefix"/>: a key range, not a scan.</summary>
    public static string PrefixFilter(string partition, string prefix) =>
        TableClient.CreateQueryFilter($"PartitionKey eq {partition} and RowKey ge {prefix} and RowKey lt {PrefixEnd(prefix)}");

    /// <summary>The smallest key greater than every key starting with <paramref name="prefix"/>.</summary>
    public static string PrefixEnd(string prefix) => prefix[..^1] + (char)(prefix[^1] + 1);
}
