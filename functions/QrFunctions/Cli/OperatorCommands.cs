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
