using System.Text.Json;
using System.Text.Json.Nodes;
using QrFunctions.Auth;
using QrFunctions.Hosting;
using QrFunctions.Organizations;
using QrFunctions.Storage;

namespace QrFunctions.Cli;

/// <summary>
/// Commands of the same executable for operators, run against whatever storage AzureWebJobsStorage
/// points at (Azurite, or the deployed account with the operator's Azure login):
///   operator create-org --name N --slug S --plan P --owner-email E [--owner-name N] [--billing-email E]
///   operator create-operator-key [--name N]
///   operator usage-csv --org ORG --from YYYY-MM-DD --to YYYY-MM-DD   (billing export: day,team,key,endpoint,calls)
///   operator set-limits --org ORG [--requests-per-second N] [--burst N] [--max-workspaces N|unlimited] [--max-qr-codes N|unlimited]
///                                (Enterprise custom limits: the organization's plan overrides, audited)
///   operator migrate-passwords   (hashes code passwords stored in plaintext by builds before hashing; idempotent)
///   operator migrate-webhook-secrets   (seals every webhook signing secret under Webhooks:SecretKeyId: plaintext ones and
///                                       those under other keys, i.e. key rotation; idempotent)
///   dev-seed --out FILE          (idempotent: reuses FILE's credentials while they still work)
/// Output is JSON on stdout.
/// </summary>
public static class OperatorCommands
{
    public static bool IsCommand(string arg) => arg is "operator" or "dev-seed";

    public static async Task<int> RunAsync(string[] args)
    {
        try
        {
            return args[0] switch
            {
                "dev-seed" => await DevSeedAsync(Options(args.Skip(1))),
                "operator" when args.Length >= 2 && args[1] == "create-org" => await CreateOrgAsync(Options(args.Skip(2))),
                "operator" when args.Length >= 2 && args[1] == "create-operator-key" => await CreateOperatorKeyAsync(Options(args.Skip(2))),
                "operator" when args.Length >= 2 && args[1] == "usage-csv" => await UsageCsvAsync(Options(args.Skip(2))),
                "operator" when args.Length >= 2 && args[1] == "set-limits" => await SetLimitsAsync(Options(args.Skip(2))),
                "operator" when args.Length == 2 && args[1] == "migrate-passwords" => await PrintAsync(MigratePasswordsAsync(Services(), CancellationToken.None)),
                "operator" when args.Length == 2 && args[1] == "migrate-webhook-secrets" => await MigrateWebhookSecretsCommandAsync(Services()),
                _ => Usage(),
            };
        }
        catch (Api.ApiProblem problem)
        {
            Console.Error.WriteLine(problem.Message);
            return 2;
        }
    }

    private static int Usage()
    {
        Console.Error.WriteLine("""
            usage:
              QrFunctions operator create-org --name NAME --slug SLUG --plan PLAN --owner-email EMAIL [--owner-name NAME] [--billing-email EMAIL]
              QrFunctions operator create-operator-key [--name NAME]
              QrFunctions operator usage-csv --org ORG_ID --from YYYY-MM-DD --to YYYY-MM-DD
              QrFunctions operator set-limits --org ORG_ID [--requests-per-second N] [--burst N] [--max-workspaces N|unlimited] [--max-qr-codes N|unlimited]
              QrFunctions operator migrate-passwords
              QrFunctions operator migrate-webhook-secrets
              QrFunctions dev-seed --out FILE
            """);
        return 64;
    }

    /// <summary>The app's services against the configured storage (nothing is started: no server, no queue polling).</summary>
    private static IServiceProvider Services()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders(); // stdout carries the command's JSON only
        builder.Services.AddQrFunctions(builder.Configuration);
        return builder.Build().Services;
    }

    private static async Task<int> CreateOrgAsync(Dictionary<string, string> o)
    {
        var services = Services();
        await AppServices.PrepareStorageAsync(services);
        var created = await OrganizationSetup.CreateAsync(services.GetRequiredService<StorageAccount>(), services.GetRequiredService<PlanCatalog>(),
            Need(o, "name"), Need(o, "slug"), o.GetValueOrDefault("plan", "Business Plus"), o.GetValueOrDefault("billing-email"),
            Need(o, "owner-email"), o.GetValueOrDefault("owner-name"), "operator");
        Console.WriteLine(JsonSerializer.Serialize(Credentials(created), Indented));
        return 0;
    }

    private static async Task<int> CreateOperatorKeyAsync(Dictionary<string, string> o)
    {
        var services = Services();
        await AppServices.PrepareStorageAsync(services);
        var key = await OrganizationSetup.IssueOperatorKeyAsync(services.GetRequiredService<StorageAccount>(), o.GetValueOrDefault("name", "operator"));
        Console.WriteLine(JsonSerializer.Serialize(new { clientId = key.KeyId, clientSecret = key.Secret, bearerToken = key.BearerToken }, Indented));
        return 0;
    }

    /// <summary>Billable calls of one organization for a period as CSV, one line per day, team, key and endpoint.</summary>
    private static async Task<int> UsageCsvAsync(Dictionary<string, string> o)
    {
        var services = Services();
        var storage = services.GetRequiredService<StorageAccount>();
        var (from, to) = QrFunctions.Usage.UsageApi.Period(Need(o, "from"), Need(o, "to"));
        Console.WriteLine("day,team_id,key_id,endpoint,calls");
        foreach (var line in await QrFunctions.Usage.UsageMeter.DetailAsync(storage, Need(o, "org"), from, to, CancellationToken.None))
            Console.WriteLine(line);
        return 0;
    }

    /// <summary>
    /// Enterprise custom limits: merges the given limits into the organization's plan overrides ("unlimited" = no limit)
    /// and records organizations.limits_updated in the organization's audit partition in the same transaction.
    /// </summary>
    private static async Task<int> SetLimitsAsync(Dictionary<string, string> o)
    {
        var services = Services();
        var storage = services.GetRequiredService<StorageAccount>();
        var orgId = Need(o, "org");
        var changes = new Dictionary<string, string>
        {
            ["requests-per-second"] = "requestsPerSecond", ["burst"] = "burst", ["max-workspaces"] = "maxWorkspaces", ["max-qr-codes"] = "maxQrCodesPerTeam",
        };
        if (o.Keys.Except(changes.Keys.Append("org")).FirstOrDefault() is { } unknown) throw Api.ApiProblem.BadRequest($"Unknown option --{unknown}.");
        if (!o.Keys.Any(changes.ContainsKey)) throw Api.ApiProblem.BadRequest("Give at least one limit to set.");
        var row = await storage.Orgs.GetEntityIfExistsAsync<Organization>(orgId, Organization.Row);
        var org = row.HasValue ? row.Value! : throw Api.ApiProblem.NotFound($"Organization {orgId} not found.");
        var before = string.IsNullOrEmpty(org.PlanOverrides) ? new JsonObject() : JsonNode.Parse(org.PlanOverrides)!.AsObject();
        var after = (JsonObject)before.DeepClone();
        foreach (var (option, field) in changes)
        {
            if (!o.TryGetValue(option, out var value)) continue;
            var isMaximum = field.StartsWith("max", StringComparison.Ordinal);
            if (isMaximum && value == "unlimited")
            {
                after[field] = null;
                continue;
            }
            if (!double.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var n) || n <= 0 || (isMaximum && n != Math.Floor(n)))
                throw Api.ApiProblem.BadRequest(isMaximum ? $"--{option} must be a whole number above 0, or unlimited." : $"--{option} must be a number above 0.");
            after[field] = n;
        }
        org.PlanOverrides = after.ToJsonString();
        org.UpdatedAt = Clock.NowMs();
        await AuditLogs.AuditEntry.CommitAsync(storage.Orgs,
        [
            new Azure.Data.Tables.TableTransactionAction(Azure.Data.Tables.TableTransactionActionType.UpdateReplace, org, org.ETag),
            new Azure.Data.Tables.TableTransactionAction(Azure.Data.Tables.TableTransactionActionType.Add, AuditLogs.AuditEntry.For(orgId, "operator", "operator",
                "organizations.limits_updated", "organizations", orgId, new JsonObject { ["plan_overrides"] = new JsonObject { ["before"] = before, ["after"] = after.DeepClone() } })),
        ], CancellationToken.None);
        var limits = services.GetRequiredService<PlanCatalog>().For(org);
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            orgId, plan = org.Plan, overrides = after,
            effective = new { requestsPerSecond = limits.RequestsPerSecond, burst = limits.Burst ?? limits.RequestsPerSecond, maxWorkspaces = limits.MaxWorkspaces, maxQrCodesPerTeam = limits.MaxQrCodesPerTeam },
        }, Indented));
        return 0;
    }

    private static async Task<int> PrintAsync(Task<object> report)
    {
        Console.WriteLine(JsonSerializer.Serialize(await report, Indented));
        return 0;
    }

    /// <summary>
    /// Every code row (all teams) and every route row: plaintext passwords become PBKDF2 hashes (Qrs/QrPasswords.cs).
    /// Reports what it changed, never a password: {codes: [{teamId, qrId, displayId, changed: [Doc|Approved|route]}], routes: [displayId], scanned}.
    /// </summary>
    public static async Task<object> MigratePasswordsAsync(IServiceProvider services, CancellationToken ct)
    {
        var storage = services.GetRequiredService<StorageAccount>();
        var store = services.GetRequiredService<Qrs.QrStore>();
        var codes = new List<object>();
        var routes = new List<string>();
        int codesScanned = 0, routesScanned = 0;
        var codeRows = Azure.Data.Tables.TableClient.CreateQueryFilter($"RowKey ge {Qrs.QrKeys.Qr("")} and RowKey lt {TableQueries.PrefixEnd(Qrs.QrKeys.Qr(""))}");
        await foreach (var row in storage.TeamData.QueryAsync<Azure.Data.Tables.TableEntity>(codeRows, cancellationToken: ct))
        {
            codesScanned++;
            var (qr, changed) = await store.MigratePasswordsAsync(row, ct);
            if (changed.Count > 0) codes.Add(new { teamId = row.PartitionKey, qrId = qr.Id, displayId = qr.DisplayId, changed });
        }
        // Route rows whose code was migrated but whose own write lost a race (or whose code row is gone).
        await foreach (var route in storage.Routes.QueryAsync<Azure.Data.Tables.TableEntity>(cancellationToken: ct))
        {
            routesScanned++;
            if (await store.MigrateRoutePasswordAsync(route, ct)) routes.Add(route.PartitionKey);
        }
        return new { codes, routes, scanned = new { codes = codesScanned, routes = routesScanned } };
    }

    private static async Task<int> MigrateWebhookSecretsCommandAsync(IServiceProvider services)
    {
        var secrets = services.GetRequiredService<Webhooks.WebhookSecrets>();
        if (secrets.CurrentKeyId is null) throw Api.ApiProblem.BadRequest($"Webhook secret keys: {secrets.Problems}");
        var report = await MigrateWebhookSecretsAsync(services.GetRequiredService<StorageAccount>(), secrets, CancellationToken.None);
        Console.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
        return report.Unreadable.Count == 0 ? 0 : 1;
    }

    public sealed record SealedSecret(string TeamId, string Id, string From);
    public sealed record WebhookSecretsReport(string CurrentKeyId, List<SealedSecret> Sealed, List<SealedSecret> Unreadable, Dictionary<string, int> ByKey);

    /// <summary>
    /// Every subscription (all teams): a signing secret in plaintext or under a key other than the current one is
    /// sealed under the current key. ByKey counts the readable secrets per key afterwards: once it names only the
    /// current key and nothing is unreadable, older keys can leave the configuration. Unreadable: values that do not
    /// open with the configured keys (key missing, replaced under the same id, or value altered); they are not counted.
    /// </summary>
    public static async Task<WebhookSecretsReport> MigrateWebhookSecretsAsync(StorageAccount storage, Webhooks.WebhookSecrets secrets, CancellationToken ct)
    {
        var report = new WebhookSecretsReport(secrets.CurrentKeyId!, [], [], new(StringComparer.Ordinal));
        var filter = Azure.Data.Tables.TableClient.CreateQueryFilter($"RowKey ge {Webhooks.WebhookRows.RowPrefix} and RowKey lt {TableQueries.PrefixEnd(Webhooks.WebhookRows.RowPrefix)}");
        await foreach (var row in storage.TeamData.QueryAsync<Azure.Data.Tables.TableEntity>(filter, select: ["PartitionKey", "RowKey", "Secret"], cancellationToken: ct))
        {
            var id = row.RowKey[Webhooks.WebhookRows.RowPrefix.Length..];
            var stored = row.GetString("Secret") ?? "";
            var from = Webhooks.WebhookSecrets.KeyIdOf(stored) is { } keyId ? "key:" + keyId : "plaintext";
            string secret;
            try { secret = secrets.Open(row.PartitionKey, id, stored); } // every value, so a key replaced under the same id is noticed too
            catch (System.Security.Cryptography.CryptographicException)
            {
                report.Unreadable.Add(new(row.PartitionKey, id, from));
                continue;
            }
            if (secrets.NeedsSealing(stored))
            {
                var resealed = secrets.Seal(row.PartitionKey, id, secret);
                try
                {
                    await storage.TeamData.UpdateEntityAsync(new Azure.Data.Tables.TableEntity(row.PartitionKey, row.RowKey) { ["Secret"] = resealed }, row.ETag,
                        Azure.Data.Tables.TableUpdateMode.Merge, ct);
                }
                catch (Azure.RequestFailedException ex) when (ex.Status is 404 or 412)
                {
                    continue; // deleted, or sealed by a delivery meanwhile: not counted; a second run sees it
                }
                stored = resealed;
                report.Sealed.Add(new(row.PartitionKey, id, from));
            }
            var key = Webhooks.WebhookSecrets.KeyIdOf(stored) ?? "plaintext";
            report.ByKey[key] = report.ByKey.GetValueOrDefault(key) + 1;
        }
        return report;
    }

    /// <summary>Seeds the development organization once; later runs print the same credentials if they still authenticate.</summary>
    private static async Task<int> DevSeedAsync(Dictionary<string, string> o)
    {
        var file = Need(o, "out");
        var services = Services();
        await AppServices.PrepareStorageAsync(services);
        var storage = services.GetRequiredService<StorageAccount>();
        if (File.Exists(file))
        {
            var saved = JsonSerializer.Deserialize<JsonElement>(await File.ReadAllTextAsync(file));
            var keyId = saved.GetProperty("clientId").GetString()!;
            var key = await storage.ApiKeys.GetEntityIfExistsAsync<ApiKey>(keyId, ApiKey.Row);
            if (key.HasValue && !key.Value!.Revoked && KeySecrets.Matches(saved.GetProperty("clientSecret").GetString()!, key.Value.SecretHash))
            {
                Console.WriteLine(saved.GetRawText());
                return 0;
            }
        }
        var reservation = await storage.Reservations.GetEntityIfExistsAsync<Azure.Data.Tables.TableEntity>("orgslug:dev", "");
        object credentials;
        if (reservation.HasValue)
        {
            // The organization exists but its saved credentials are gone: issue a fresh owner key, do not seed twice.
            var orgId = reservation.Value!.GetString("OrgId");
            var link = storage.Orgs.QueryAsync<Teams.WorkspaceLink>(TableQueries.PrefixFilter(orgId!, Teams.WorkspaceLink.RowPrefix));
            var teamId = "";
            await foreach (var l in link) { teamId = l.TeamId; break; }
            var key = await ApiKeys.PersonalKeys.IssueAsync(storage, orgId, teamId, DevOwner, "Owner key (re-issued by dev-seed)", "operator", null);
            credentials = new { orgId, teamId, ownerEmail = DevOwner, clientId = key.KeyId, clientSecret = key.Secret, bearerToken = key.BearerToken };
        }
        else
        {
            var created = await OrganizationSetup.CreateAsync(storage, services.GetRequiredService<PlanCatalog>(),
                "Development", "dev", "Enterprise", null, DevOwner, "Dev Owner", "operator");
            credentials = Credentials(created);
        }
        var json = JsonSerializer.Serialize(credentials, Indented);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
        await File.WriteAllTextAsync(file, json);
        Console.WriteLine(json);
        return 0;
    }

    private const string DevOwner = "owner@dev.local";

    private static object Credentials(CreatedOrganization c) => new
    {
        orgId = c.Organization.Id,
        teamId = c.Team.Id,
        ownerEmail = c.OwnerEmail,
        clientId = c.OwnerKey.KeyId,
        clientSecret = c.OwnerKey.Secret,
        bearerToken = c.OwnerKey.BearerToken,
    };

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private static Dictionary<string, string> Options(IEnumerable<string> args)
    {
        var list = args.ToList();
        var options = new Dictionary<string, string>();
        for (var i = 0; i < list.Count; i++)
        {
            if (!list[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= list.Count)
                throw Api.ApiProblem.BadRequest($"Unexpected argument '{list[i]}'.");
            options[list[i][2..]] = list[++i];
        }
        return options;
    }

    private static string Need(Dictionary<string, string> o, string name) =>
        o.TryGetValue(name, out var v) ? v : throw Api.ApiProblem.BadRequest($"--{name} is required.");
}
