using QrFunctions.Api;
using QrFunctions.Hosting;

namespace QrFunctions.Auth;

/// <summary>
/// The one place credentials, organization state, team access, membership and role are checked, the plan's
/// rate limit applied and the call metered. Functions only declare what they need (<see cref="ApiAccessAttribute"/>,
/// <see cref="RequiresAttribute"/>, <see cref="TeamFromRouteAttribute"/>); <see cref="FunctionPolicy"/> calls this.
/// 401: no or wrong credentials, revoked/expired key, deleted organization.
/// 403: valid key but no access to the team, paused member, role too low, plan without API access.
/// </summary>
public sealed class AccessPolicy(TenantDirectory directory, PlanCatalog plans, TeamRateLimiter limiter, Usage.UsageMeter meter)
{
    public const string TeamHeader = "x-request-team-id";
    public const string ClientIdHeader = "x-request-client-id";
    public const string ClientSecretHeader = "x-request-client-secret";

    /// <summary>Admits one call of <paramref name="function"/> or throws the refusal; the caller is then on the context.</summary>
    public async Task AdmitAsync(HttpContext context, HttpFunction function, Func<string, string?> routeValue)
    {
        var caller = await AuthenticateAsync(context.Request, function.Access, routeValue);
        context.SetCaller(caller);
        if (caller.IsOperator) return;
        await LimitAsync(context, caller);
        meter.Count(caller, function.Name);
    }

    public async Task<Caller> AuthenticateAsync(HttpRequest request, FunctionAccess access, Func<string, string?> routeValue)
    {
        var (keyId, secret) = ReadCredentials(request);
        var key = await directory.KeyAsync(keyId);
        if (key is null || !KeySecrets.Matches(secret, key.SecretHash) || key.Revoked
            || (key.ExpiresAt is { } expires && expires <= Storage.Clock.NowMs()))
            throw ApiProblem.Unauthorized();

        if (key.Scope == KeyScopes.Operator)
        {
            if (!access.RequiresOperator) throw ApiProblem.Forbidden("Operator keys may only create organizations.");
            return new Caller(key, null, null, Role.Owner);
        }

        var org = await directory.OrgAsync(key.OrgId);
        if (org is null || org.Deleted) throw ApiProblem.Unauthorized();
        if (!plans.For(org).Surfaces.Contains(access.Surface))
            throw ApiProblem.Forbidden(access.Surface == ApiSurface.QrApi
                ? $"The QR-code API needs the {plans.CheapestWith(ApiSurface.QrApi)} plan or higher; this organization is on the {org.Plan} plan."
                : $"The organizations API needs the {plans.CheapestWith(ApiSurface.V1)} plan or higher; this organization is on the {org.Plan} plan.");
        if (access.RequiresOperator) throw ApiProblem.Forbidden("Only an operator key may do this.");

        // Functions about one team (/teams-api/{id}, /v1/workspaces/{id}) check the role in THAT team.
        var fromRoute = access.TeamFromRoute;
        var teamId = fromRoute is not null ? routeValue(fromRoute.Parameter) ?? "" : request.Headers[TeamHeader].ToString();
        if (teamId.Length == 0) teamId = key.HomeTeamId;
        var (team, role) = await RoleInTeamAsync(key, org, teamId, fromRoute, access.OwnerReachesArchivedTeam);

        if (role < access.Least)
            throw ApiProblem.Forbidden($"This action needs the {Roles.Name(access.Least)} role; the key acts as {Roles.Name(role)}.");
        return new Caller(key, org, team, role);
    }

    /// <summary>The plan's per-team rate: headers on every authenticated answer, 429 with Retry-After over it (no storage work for a rejection).</summary>
    private async Task LimitAsync(HttpContext context, Caller caller)
    {
        var limits = plans.For(caller.Org!);
        var decision = await limiter.AcquireAsync(caller.TeamId, limits.RequestsPerSecond, limits.Burst ?? limits.RequestsPerSecond, context.RequestAborted);
        var headers = context.Response.Headers;
        headers["X-RateLimit-Limit"] = decision.Limit.ToString();
        headers["X-RateLimit-Remaining"] = decision.Remaining.ToString();
        headers["X-RateLimit-Reset"] = decision.ResetUnixSeconds.ToString();
        if (decision.Admitted) return;
        var problem = new ApiProblem(429, $"Rate limit of {limits.RequestsPerSecond:0.##} requests per second for this team exceeded; retry after {decision.RetryAfterSeconds} s.");
        problem.Headers["Retry-After"] = decision.RetryAfterSeconds.ToString();
        throw problem;
    }

    /// <summary>The team and the role <paramref name="key"/> has in it; refusals as the contract wants them.</summary>
    public async Task<(Teams.Team Team, Role Role)> RoleInTeamAsync(ApiKey key, Organizations.Organization org, string teamId, TeamFromRouteAttribute? fromRoute = null,
        bool ownerReachesArchived = false)
    {
        var team = await directory.TeamAsync(teamId);
        if (team is null || team.OrgId != org.Id)
            throw fromRoute?.Missing() ?? ApiProblem.Forbidden("This key has no access to that team.");
        if (team.Archived)
        {
            if (key.Scope == KeyScopes.Workspace) throw ApiProblem.Unauthorized();
            // The organization's owner: owner in the archived team or in the key's own (owner is never assigned through the API).
            var owner = ownerReachesArchived && key.UserEmail is { } email
                && (await directory.MembershipAsync(team.Id, email) is { Role: "owner" } || await directory.MembershipAsync(key.HomeTeamId, email) is { Role: "owner", Status: "active" });
            if (!owner) throw ApiProblem.Forbidden("This workspace is archived.");
            return (team, Role.Owner);
        }
        if (key.Scope == KeyScopes.Workspace)
        {
            if (team.Id != key.HomeTeamId) throw fromRoute?.Missing() ?? ApiProblem.Forbidden("This key has no access to that team.");
            return (team, Role.Admin);
        }
        var member = key.UserEmail is null ? null : await directory.MembershipAsync(team.Id, key.UserEmail);
        if (member is null) throw fromRoute?.Missing() ?? ApiProblem.Forbidden("This key has no access to that team.");
        if (member.Status == "paused") throw ApiProblem.Forbidden("Your access to this team is paused.");
        if (member.Status != "active") throw ApiProblem.Forbidden("Your invitation to this team is not accepted yet.");
        return (team, Roles.Parse(member.Role) ?? Role.Viewer);
    }

    /// <summary>Either form works on either surface: the header pair or "Authorization: Bearer qr3_sk_…".</summary>
    private static (string KeyId, string Secret) ReadCredentials(HttpRequest request)
    {
        var clientId = request.Headers[ClientIdHeader].ToString();
        var clientSecret = request.Headers[ClientSecretHeader].ToString();
        if (clientId.Length > 0 && clientSecret.Length > 0) return (clientId, clientSecret);
        var auth = request.Headers.Authorization.ToString();
        if (auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            && KeySecrets.TryParseBearer(auth["Bearer ".Length..].Trim(), out var keyId, out var secret))
            return (keyId, secret);
        throw ApiProblem.Unauthorized();
    }
}
