using QrFunctions.Api;
using QrFunctions.Auth;
using QrFunctions.Storage;

namespace QrFunctions.Templates;

/// <summary>GET /api/qr-templates-api: the team's design templates.</summary>
public static class TemplatesApi
{
    public static void MapTemplates(this RouteGroupBuilder api)
    {
        api.MapGet("/qr-templates-api", ListAsync).WithName("TemplatesList").WithTags("Templates");
    }

    private static async Task<IResult> ListAsync(HttpContext context, StorageAccount storage)
    {
        var teamId = context.Caller().TeamId;
        var templates = new List<object>();
        await foreach (var t in storage.TeamData.QueryAsync<DesignTemplate>(TableQueries.PrefixFilter(teamId, DesignTemplate.RowPrefix), cancellationToken: context.RequestAborted))
            templates.Add(new { id = t.Id, name = t.Name, description = t.Description, previewUrl = t.PreviewUrl, createdAt = t.CreatedAt, isDefault = t.IsDefault });
        return Envelope.Ok(templates);
    }
}
