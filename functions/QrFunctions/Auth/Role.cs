namespace QrFunctions.Auth;

/// <summary>Team roles, ordered: each role can do everything the ones below it can (contract's RBAC table).</summary>
public enum Role
{
    Viewer = 1,
    Editor = 2,
    Admin = 3,
    Owner = 4,
}

public static class Roles
{
    public static string Name(Role role) => role.ToString().ToLowerInvariant();

    public static Role? Parse(string? value) => value?.ToLowerInvariant() switch
    {
        "viewer" => Role.Viewer,
        "editor" => Role.Editor,
        "admin" => Role.Admin,
        "owner" => Role.Owner,
        _ => null,
    };

    /// <summary>Roles the API may hand out; owner can never be assigned through it.</summary>
    public static Role ParseAssignable(string? value, string field = "role") => Parse(value) switch
    {
        Role.Viewer or Role.Editor or Role.Admin => Parse(value)!.Value,
        _ => throw Api.ApiProblem.BadRequest($"{field} must be one of admin, editor, viewer."),
    };
}

/// <summary>Endpoint metadata: the least role a caller needs. Declared on route groups and endpoints, checked once in <see cref="AccessFilter"/>.</summary>
public sealed record RequiredRole(Role Role);

/// <summary>Endpoint metadata for operator-only endpoints (creating organizations).</summary>
public sealed record RequiresOperator;

/// <summary>
/// Endpoint metadata: the team acted on is named by a route value (e.g. /teams-api/{id}), so the role is
/// checked in that team, and a team the key cannot see answers MissingStatus/MissingMessage instead of 403
/// (surface A's contract says 400 "Team not found"; surface B answers 404).
/// </summary>
public sealed record TeamFromRoute(string Parameter, int MissingStatus, string MissingMessage)
{
    public Api.ApiProblem Missing() => new(MissingStatus, MissingMessage);
}
