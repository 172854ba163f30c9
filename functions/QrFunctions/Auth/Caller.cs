using QrFunctions.Organizations;
using QrFunctions.Teams;

namespace QrFunctions.Auth;

/// <summary>Who is calling, resolved once per call by <see cref="AccessPolicy"/>.</summary>
public sealed record Caller(ApiKey Key, Organization? Org, Team? Team, Role Role)
{
    public string KeyId => Key.Id;
    public bool IsOperator => Key.Scope == KeyScopes.Operator;
    public string OrgId => Org?.Id ?? "";
    /// <summary>The team the call acts in; every team-scoped endpoint reads only this partition.</summary>
    public string TeamId => Team?.Id ?? "";
    /// <summary>Audit actor: "api" for keys (the only credential this service has).</summary>
    public string ActorType => "api";
    /// <summary>Recorded as createdBy/updatedBy and as the audit actor id: the key id, never a secret.</summary>
    public string ActorId => Key.Id;
}

public static class CallerHttpContextExtensions
{
    private const string ItemKey = "QrFunctions.Caller";

    public static Caller Caller(this HttpContext context) =>
        context.Items[ItemKey] as Caller ?? throw new InvalidOperationException("This function does not declare ApiAccess.");


    internal static void SetCaller(this HttpContext context, Caller caller) => context.Items[ItemKey] = caller;
}
