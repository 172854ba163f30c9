using Microsoft.Azure.Functions.Worker;
using QrFunctions.Api;
using QrFunctions.Auth;
using QrFunctions.Storage;

namespace QrFunctions.Templates;

/// <summary>GET /api/qr-templates-api: the team's design templates.</summary>
[ApiAccess(ApiSurface.QrApi), Tags("Templates")]
public sealed class TemplatesApi(StorageAccount storage)
{
    [Function("TemplatesList"), EndpointSummary("The team's design templates")]
    public async Task<IResult> ListAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "api/qr-templates-api")] HttpRequest req)
    {
        var context = req.HttpContext;
        var teamId = context.Caller().TeamId;
        var templates = new List<object>();
        await foreach (var t in storage.TeamData.QueryAsync<DesignTemplate>(TableQueries.PrefixFilter(teamId, DesignTemplate.RowPrefix), cancellationToken: context.RequestAborted))
            templates.Add(new { id = t.Id, name = t.Name, description = t.Description, previewUrl = t.PreviewUrl, createdAt = t.CreatedAt, isDefault = t.IsDefault });
        return Envelope.Ok(templates);
    }
}
