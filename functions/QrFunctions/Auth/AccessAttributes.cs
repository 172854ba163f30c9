using QrFunctions.Api;

namespace QrFunctions.Auth;

// What an HTTP function declares about who may call it. The attributes sit on the function method or on its
// class (the class is the route group: its declaration applies to every function in it, a method's wins);
// FunctionCatalog resolves them once per function and FunctionPolicy applies them to every call, under the
// Functions host and in the development server alike. Every HTTP function declares ApiAccess or Public.

/// <summary>Credentials required (either header form); errors in <paramref name="surface"/>'s envelope; at least <paramref name="least"/> in the team.</summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, Inherited = false)]
public sealed class ApiAccessAttribute(ApiSurface surface, Role least = Role.Viewer) : Attribute
{
    public ApiSurface Surface { get; } = surface;
    public Role Least { get; } = least;
}

/// <summary>
/// No credentials, on purpose (scans, the availability check, invitation tokens, the OpenAPI document).
/// Errors still render in the surface's envelope.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, Inherited = false)]
public sealed class PublicAttribute(ApiSurface surface = ApiSurface.QrApi) : Attribute
{
    public ApiSurface Surface { get; } = surface;
}

/// <summary>Raises the least role of one function above its class's default.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class RequiresAttribute(Role role) : Attribute
{
    public Role Role { get; } = role;
}

/// <summary>Only an operator key may call it (creating organizations); operator keys may call nothing else.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class RequiresOperatorAttribute : Attribute;

/// <summary>
/// The team acted on is named by a route value (e.g. /teams-api/{id}), so the role is checked in that team,
/// and a team the key cannot see answers MissingStatus/MissingMessage instead of 403 (surface A's contract
/// says 400 "Team not found"; surface B answers 404).
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class TeamFromRouteAttribute(string parameter, int missingStatus, string missingMessage) : Attribute
{
    public string Parameter { get; } = parameter;
    public int MissingStatus { get; } = missingStatus;
    public string MissingMessage { get; } = missingMessage;

    public ApiProblem Missing() => new(MissingStatus, MissingMessage);
}

/// <summary>
/// The organization's owner may still call it in an archived workspace (reading its audit log, which ends with the
/// archive itself); everyone else is refused there as in any archived workspace.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class OwnerReachesArchivedTeamAttribute : Attribute;

/// <summary>A public function limited per client address (per instance), so it cannot be used to enumerate.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class LimitedPerClientAddressAttribute : Attribute;

/// <summary>
/// Answers HTML pages to browsers (scans, the invitation page): its refusals are pages too, locked down as scan pages
/// are, and a route value that cannot be an id is a "not found" page, as an unknown code is.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, Inherited = false)]
public sealed class AnswersPagesAttribute : Attribute;
