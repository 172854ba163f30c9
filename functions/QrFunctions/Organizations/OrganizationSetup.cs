using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Azure;
using Azure.Data.Tables;
using QrFunctions.Api;
using QrFunctions.AuditLogs;
using QrFunctions.Auth;
using QrFunctions.Storage;
using QrFunctions.Teams;

namespace QrFunctions.Organizations;

/// <summary>A new organization with its first workspace and the owner's key (the secret is shown only here).</summary>
public sealed record CreatedOrganization(Organization Organization, Team Team, string OwnerEmail, IssuedKey OwnerKey);

public static class OrganizationSetup
{
    private static readonly Regex Email = new(@"^[^@\s]+@[^@\s]+\.[^@\s]+$", RegexOptions.Compiled);

    /// <summary>An address, which is also a table key (members, users): so none of the characters keys refuse.</summary>
    public static bool IsEmail(string? value) => value is { Length: <= 254 } && Email.IsMatch(value) && Api.RequestJson.IsStorableId(value);

    /// <summary>
    /// Creates an organization: the global slug reservation first (reservations table, PartitionKey
    /// "orgslug:{slug}"), then the org partition, then its first team and the owner's key.
    /// </summary>
    public static async Task<CreatedOrganization> CreateAsync(StorageAccount storage, PlanCatalog plans,
        string name, string slug, string plan, string? billingEmail, string ownerEmail, string? ownerName, string actorId, CancellationToken ct = default)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 255) throw ApiProblem.BadRequest("name is required and must be at most 255 characters.");
        if (!TeamCreation.SlugPattern().IsMatch(slug)) throw ApiProblem.BadRequest("slug must be 2-63 characters of a-z, 0-9 and '-'.");
        if (!plans.Exists(plan)) throw ApiProblem.BadRequest($"plan must be one of {string.Join(", ", plans.Names)}.");
        if (billingEmail is not null && !IsEmail(billingEmail)) throw ApiProblem.BadRequest("billing_email must be an email address.");
        if (!IsEmail(ownerEmail)) throw ApiProblem.BadRequest("owner_email must be an email address.");

        var orgId = Ids.New("org");
        try
        {
            await storage.Reservations.AddEntityAsync(new TableEntity("orgslug:" + slug, "") { ["OrgId"] = orgId }, ct);
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            throw ApiProblem.BadRequest($"slug '{slug}' is already taken.");
        }

        var now = Clock.NowMs();
        var org = new Organization
        {
            PartitionKey = orgId, Name = name, Slug = slug, Plan = plans.Names.First(p => p.Equals(plan, StringComparison.OrdinalIgnoreCase)),
            BillingEmail = billingEmail, CreatedAt = now, UpdatedAt = now,
        };
        await storage.Orgs.SubmitTransactionAsync(
        [
            new TableTransactionAction(TableTransactionActionType.Add, org),
            new TableTransactionAction(TableTransactionActionType.Add, AuditEntry.For(orgId, "api", actorId, "organizations.created", "organizations", orgId,
                new JsonObject { ["name"] = new JsonObject { ["before"] = null, ["after"] = name }, ["slug"] = new JsonObject { ["before"] = null, ["after"] = slug } })),
        ], ct);

        // The first workspace never counts against the plan: every organization has one.
        var team = await TeamCreation.CreateAsync(storage, org, new TeamDraft("Default workspace", "default"), new PlanLimits { MaxWorkspaces = null },
            actorId, ownerEmail, ownerName, ct);
        var key = await ApiKeys.PersonalKeys.IssueAsync(storage, org.Id, team.Id, ownerEmail, "Owner key", actorId, null, ct);
        return new CreatedOrganization(org, team, ownerEmail.ToLowerInvariant(), key);
    }

    /// <summary>An operator key may create organizations and nothing else.</summary>
    public static async Task<IssuedKey> IssueOperatorKeyAsync(StorageAccount storage, string name, CancellationToken ct = default)
    {
        var issued = KeySecrets.Issue();
        await storage.ApiKeys.AddEntityAsync(new ApiKey
        {
            PartitionKey = issued.KeyId, Scope = KeyScopes.Operator, Name = name, SecretHash = KeySecrets.Hash(issued.Secret),
            CreatedAt = Clock.NowMs(), CreatedBy = "operator",
        }, ct);
        return issued;
    }
}
