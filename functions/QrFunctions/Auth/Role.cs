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
