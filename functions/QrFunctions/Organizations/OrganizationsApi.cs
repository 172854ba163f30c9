using Microsoft.Azure.Functions.Worker;
using System.Text.Json.Nodes;
using Azure;
using Azure.Data.Tables;
using QrFunctions.Api;
using QrFunctions.AuditLogs;
using QrFunctions.Auth;
using QrFunctions.Storage;

namespace QrFunctions.Organizations;

/// <summary>/v1/organizations (surface B, snake_case). Creating one takes an operator key; managing one, the owner role.</summary>
[ApiAccess(ApiSurface.V1), Tags("Organizations")]
public sealed class OrganizationsApi(StorageAccount storage, TenantDirectory directory, PlanCatalog plans)
{
    private const string Route = "v1/organizations";

    [Function("OrganizationsGet"), EndpointSummary("The organization of the calling key")]
    public IResult Get([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = Route)] HttpRequest req) => Envelope.V1(View(req.HttpContext.Caller().Org!));

    public static object View(Organization org) => new
    {
        id = org.Id, name = org.Name, slug = org.Slug, billing_email = org.BillingEmail, plan = org.Plan, deleted = org.Deleted,
        created_at = Iso(org.CreatedAt), updated_at = Iso(org.UpdatedAt),
    };

    public static string Iso(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'");

    [Function("OrganizationsCreate"), RequiresOperator, EndpointSummary("Create an organization (operator key only); the owner's key is in the response, shown once")]
    public async Task<IResult> CreateAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = Route)] HttpRequest req)
    {
        var context = req.HttpContext;
        var body = await RequestJson.ReadObjectAsync(context);
        var created = await OrganizationSetup.CreateAsync(storage, plans,
            body.RequiredString("name", 255), body.RequiredString("slug", 63), body.OptionalString("plan", 64) ?? "Business Plus",
            body.OptionalString("billing_email", 254), OwnerEmail(body), body.OptionalString("owner_name", 255),
            context.Caller().ActorId, context.RequestAborted);
        return Envelope.V1(new
        {
            organization = View(created.Organization),
            workspace_id = created.Team.Id,
            owner_email = created.OwnerEmail,
            owner_key = new { client_id = created.OwnerKey.KeyId, client_secret = created.OwnerKey.Secret, token = created.OwnerKey.BearerToken },
        }, 201);
    }

    /// <summary>Seed 002's body has no owner, but someone must hold the first owner key: owner_email stays required, and the refusal says why.</summary>
    private static string OwnerEmail(System.Text.Json.Nodes.JsonObject body) =>
        body.OptionalString("owner_email", 254) is { Length: > 0 } email ? email
            : throw ApiProblem.BadRequest("owner_email is required: the first owner of the organization, who receives its owner key (name, slug and billing_email alone do not say who that is).");

    private static Organization Own(HttpContext context, string id)
    {
        var org = context.Caller().Org!;
        return org.Id == id ? org : throw ApiProblem.NotFound("Organization not found.");
    }

    [Function("OrganizationsUpdate"), Requires(Role.Owner), EndpointSummary("Change name, slug or billing email")]
    public async Task<IResult> UpdateAsync([HttpTrigger(AuthorizationLevel.Anonymous, "patch", Route = Route + "/{id}")] HttpRequest req, string id)
    {
        var context = req.HttpContext;
        Own(context, id);
        var caller = context.Caller();
        var body = await RequestJson.ReadObjectAsync(context);
        var name = body.OptionalString("name", 255);
        if (name is not null && name.Trim().Length == 0) throw ApiProblem.BadRequest("name must not be empty.");
        var slug = body.OptionalString("slug", 63);
        if (slug is not null && !Teams.TeamCreation.SlugPattern().IsMatch(slug)) throw ApiProblem.BadRequest("slug must be 2-63 characters of a-z, 0-9 and '-'.");
        var billing = body.OptionalString("billing_email", 254);
        if (billing is not null && !OrganizationSetup.IsEmail(billing)) throw ApiProblem.BadRequest("billing_email must be an email address.");

        var org = (await storage.Orgs.GetEntityAsync<Organization>(id, Organization.Row, cancellationToken: context.RequestAborted)).Value;
        var oldSlug = org.Slug;
        var slugChanged = slug is not null && slug != oldSlug;
        if (slugChanged)
        {
            try { await storage.Reservations.AddEntityAsync(new TableEntity("orgslug:" + slug, "") { ["OrgId"] = id }, context.RequestAborted); }
            catch (RequestFailedException ex) when (ex.Status == 409) { throw ApiProblem.BadRequest($"slug '{slug}' is already taken."); }
        }
        var before = new JsonObject { ["name"] = org.Name, ["slug"] = org.Slug, ["billing_email"] = org.BillingEmail };
        org.Name = name?.Trim() ?? org.Name;
        org.Slug = slug ?? org.Slug;
        org.BillingEmail = billing ?? org.BillingEmail;
        org.UpdatedAt = Clock.NowMs();
        var after = new JsonObject { ["name"] = org.Name, ["slug"] = org.Slug, ["billing_email"] = org.BillingEmail };
        try
        {
            await AuditEntry.CommitAsync(storage.Orgs,
            [
                new TableTransactionAction(TableTransactionActionType.UpdateReplace, org, org.ETag),
                new TableTransactionAction(TableTransactionActionType.Add, AuditEntry.For(id, caller, "organizations.updated", "organizations", id, AuditEntry.Diff(before, after))),
            ], context.RequestAborted);
        }
        catch
        {
            if (slugChanged) await storage.Reservations.DeleteEntityAsync("orgslug:" + slug, "", ETag.All);
            throw;
        }
        // The old slug is released only once the organization holds the new one.
        if (slugChanged) await storage.Reservations.DeleteEntityAsync("orgslug:" + oldSlug, "", ETag.All, context.RequestAborted);
        directory.ForgetOrg(id);
        return Envelope.V1(View(org));
    }

    [Function("OrganizationsDelete"), Requires(Role.Owner), EndpointSummary("Soft-delete: data kept, nothing reachable")]
    public async Task<IResult> DeleteAsync([HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = Route + "/{id}")] HttpRequest req, string id)
    {
        var context = req.HttpContext;
        Own(context, id);
        var caller = context.Caller();
        var org = (await storage.Orgs.GetEntityAsync<Organization>(id, Organization.Row, cancellationToken: context.RequestAborted)).Value;
        org.Deleted = true;
        org.DeletedAt = org.UpdatedAt = Clock.NowMs();
        await AuditEntry.CommitAsync(storage.Orgs,
        [
            new TableTransactionAction(TableTransactionActionType.UpdateReplace, org, org.ETag),
            new TableTransactionAction(TableTransactionActionType.Add, AuditEntry.For(id, caller, "organizations.deleted", "organizations", id,
                new JsonObject { ["deleted"] = new JsonObject { ["before"] = false, ["after"] = true } })),
        ], context.RequestAborted);
        directory.ForgetOrg(id);
        return Envelope.V1(View(org));
    }
}
