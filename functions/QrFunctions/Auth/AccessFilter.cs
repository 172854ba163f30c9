using QrFunctions.Api;

namespace QrFunctions.Auth;

/// <summary>
/// The one place credentials, organization state, team access, membership and role are checked.
/// Route groups add it once; endpoints only declare <see cref="RequiredRole"/> metadata.
/// 401: no or wrong credentials, revoked/expired key, deleted organization.
/// 403: valid key but no access to the team, paused member, role too low, plan without API access.
/// </summary>
public sealed class AccessFilter(TenantDirectory directory, PlanCatalog plans, TeamRateLimiter limiter, Usage.UsageMeter meter) : IEndpointFilter
{
    public const string TeamHeader = "x-request-team-id";
    public const string ClientIdHeader = "x-request-client-id";
    public const string ClientSecretHeader = "x-request-client-secret";

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        var context = invocation.HttpContext;
        var caller = await AuthenticateAsync(context);
        context.SetCaller(caller);
        if (!caller.IsOperator)
        {
            await LimitAsync(context, caller);
            meter.Count(caller, context.GetEndpoint()?.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName ?? "unnamed");
        }
        return await next(invocation);
    }

    public async Task<Caller> AuthenticateAsync(HttpContext context)
    {
        var endpoint = context.GetEndpoint();
        var (keyId, secret) = ReadCredentials(context.Request);
        var key = await directory.KeyAsync(keyId);
        if (key is null || !KeySecrets.Matches(secret, key.SecretHash) || key.Revoked
            || (key.ExpiresAt is { } expires && expires <= Storage.Clock.NowMs()))
            throw ApiProblem.Unauthorized();

        if (key.Scope == KeyScopes.Operator)
        {
            if (endpoint?.Metadata.GetMetadata<RequiresOperator>() is null)
                throw ApiProblem.Forbidden("Operator keys may only create organizations.");
            return new Caller(key, null, null, Role.Owner);
        }

        var org = await directory.OrgAsync(key.OrgId);
        if (org is null || org.Deleted) throw ApiProblem.Unauthorized();
        if (!plans.For(org).ApiAccess)
            throw ApiProblem.Forbidden($"The {org.Plan} plan does not include API access. Upgrade to Business Plus or higher.");
        if (endpoint?.Metadata.GetMetadata<RequiresOperator>() is not null)
            throw ApiProblem.Forbidden("Only an operator key may do this.");

        // Endpoints about one team (/teams-api/{id}, /v1/workspaces/{id}) check the role in THAT team.
        var fromRoute = endpoint?.Metadata.GetMetadata<TeamFromRoute>();
        var teamId = fromRoute is not null ? context.Request.RouteValues[fromRoute.Parameter]?.ToString() ?? "" : context.Request.Headers[TeamHeader].ToString();
        if (teamId.Length == 0) teamId = key.HomeTeamId;
        var (team, role) = await RoleInTeamAsync(key, org, teamId, fromRoute);

        var needed = endpoint?.Metadata.GetMetadata<RequiredRole>()?.Role ?? Role.Viewer;
        if (role < needed)
            throw ApiProblem.Forbidden($"This action needs the {Roles.Name(needed)} role; the key acts as {Roles.Name(role)}.");
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
    public async Task<(Teams.Team Team, Role Role)> RoleInTeamAsync(ApiKey key, Organizations.Organization org, string teamId, TeamFromRoute? fromRoute = null)
    {
        var team = await directory.TeamAsync(teamId);
        if (team is null || team.OrgId != org.Id)
            throw fromRoute?.Missing() ?? ApiProblem.Forbidden("This key has no access to that team.");
        if (team.Archived)
        {
            if (key.Scope == KeyScopes.Workspace) throw ApiProblem.Unauthorized();
            throw ApiProblem.Forbidden("This workspace is archived.");
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

public static class AccessRouteExtensions
{
    /// <summary>Puts a route group behind authentication, team access and a default least role, in the surface's envelope.</summary>
    public static RouteGroupBuilder RequireApiAccess(this RouteGroupBuilder group, ApiSurface surface, Role least = Role.Viewer)
    {
        group.WithMetadata(new SurfaceMetadata(surface), new RequiredRole(least));
        group.AddEndpointFilter<AccessFilter>();
        return group;
    }

    /// <summary>Raises the least role for one endpoint (or a nested group) above its group's default.</summary>
    public static TBuilder Requires<TBuilder>(this TBuilder builder, Role role) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new RequiredRole(role));
}
