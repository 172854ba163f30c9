using System.Text.Json.Nodes;
using Azure.Data.Tables;
using Microsoft.Azure.Functions.Worker;
using QrFunctions.Api;
using QrFunctions.Auth;
using QrFunctions.Scans;
using QrFunctions.Storage;
using QrFunctions.Teams;

namespace QrFunctions.Qrs;

/// <summary>/api/qrs-api: the QR-code functions of surface A. Reads need viewer (the class's default), writes editor.</summary>
[ApiAccess(ApiSurface.QrApi), Tags("QR codes")]
public sealed class QrsApi(QrStore store, QrListing listing, StorageAccount storage, TenantDirectory directory, Rendering.QrImages images)
{
    private const string Qrs = "api/qrs-api";

    /// <summary>No credentials: anyone may ask whether a displayId is free (limited per client address against enumeration).</summary>
    [Function("QrsAvailability"), Public, LimitedPerClientAddress, EndpointSummary("Is a displayId free? (no credentials)")]
    public async Task<IResult> AvailabilityAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = Qrs + "/availability/{displayId}")] HttpRequest req, string displayId)
    {
        // An id that breaks the pattern is the caller's error: 400 "Invalid ID format", as the public client expects.
        if (!QrRequest.IsValidDisplayId(displayId)) throw ApiProblem.BadRequest("Invalid ID format");
        var route = await storage.Routes.GetEntityIfExistsAsync<TableEntity>(displayId, QrRoute.Row, ["State"], req.HttpContext.RequestAborted);
        return route.HasValue
            ? Results.Json(new { success = false, message = "displayId already exists!" }, ApiJson.QrApi)
            : Envelope.Ok("available");
    }

    [Function("QrsCreate"), Requires(Role.Editor), EndpointSummary("Create a QR code")]
    public async Task<IResult> CreateAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = Qrs)] HttpRequest req)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        var request = QrRequest.Validate(await RequestJson.ReadObjectAsync(context), caller.Team!);
        var created = await store.CreateAsync(caller, request, context.RequestAborted);
        return Envelope.OkNode(created.View(), 201);
    }

    [Function("QrsDuplicate"), Requires(Role.Editor), EndpointSummary("Copy a QR code under a new id and displayId")]
    public async Task<IResult> DuplicateAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = Qrs + "/duplicate/{id}")] HttpRequest req, string id)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        var body = await RequestJson.ReadObjectAsync(context, allowEmpty: true);
        var name = body.OptionalString("name", 255);
        // An unknown or foreign code: 400 "Invalid QR or unauthorized", as the public client expects.
        var source = await store.FindAsync(caller.TeamId, id, context.RequestAborted) is { Deleted: false } found
            ? found : throw ApiProblem.BadRequest("Invalid QR or unauthorized");
        var copy = (JsonObject)source.Doc.DeepClone();
        foreach (var f in QrRequest.ServerFields) copy.Remove(f);
        copy.Remove("displayId"); // a fresh, generated one: two codes can never share a link
        copy["name"] = string.IsNullOrWhiteSpace(name) ? $"{source.Doc["name"]?.GetValue<string>()} (copy)" : name.Trim();
        var created = await store.CreateAsync(caller, copy, context.RequestAborted);
        return Envelope.OkNode(created.View(), 201);
    }

    [Function("QrsUpdate"), Requires(Role.Editor), EndpointSummary("Replace a QR code's content")]
    public async Task<IResult> UpdateAsync([HttpTrigger(AuthorizationLevel.Anonymous, "put", Route = Qrs + "/{id}")] HttpRequest req, string id)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        var request = QrRequest.Validate(await RequestJson.ReadObjectAsync(context), caller.Team!);
        var updated = await store.UpdateAsync(caller, id, current =>
        {
            var next = (JsonObject)request.DeepClone();
            foreach (var f in QrRequest.ServerFields) if (current[f] is { } v) next[f] = v.DeepClone();
            next["displayId"] ??= current["displayId"]!.DeepClone();
            next["folderId"] ??= null;
            next["folderIds"] ??= new JsonArray();
            next["expiryDate"] ??= null;
            next["qrRedirectUrl"] ??= null;
            return next;
        }, context.RequestAborted);
        return Envelope.OkNode(updated.View());
    }

    [Function("QrsDelete"), Requires(Role.Editor), EndpointSummary("Soft-delete a QR code")]
    public async Task<IResult> DeleteAsync([HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = Qrs + "/{id}")] HttpRequest req, string id) =>
        Envelope.OkNode((await store.DeleteAsync(req.HttpContext.Caller(), id, req.HttpContext.RequestAborted)).View());

    [Function("QrsTags"), Requires(Role.Editor), EndpointSummary("Replace a QR code's tags")]
    public async Task<IResult> TagsAsync([HttpTrigger(AuthorizationLevel.Anonymous, "put", Route = Qrs + "/{id}/tags")] HttpRequest req, string id)
    {
        var context = req.HttpContext;
        var body = await RequestJson.ReadObjectAsync(context);
        var tags = body.OptionalStringArray("tags", 100, 64) ?? throw ApiProblem.BadRequest("tags is required (an array of strings).");
        var updated = await store.UpdateAsync(context.Caller(), id, current =>
        {
            current["tags"] = new JsonArray(tags.Select(t => (JsonNode)JsonValue.Create(t)).ToArray());
            return current;
        }, context.RequestAborted);
        return Envelope.OkNode(updated.View());
    }

    [Function("QrsTitle"), Requires(Role.Editor), EndpointSummary("Rename a QR code")]
    public async Task<IResult> TitleAsync([HttpTrigger(AuthorizationLevel.Anonymous, "patch", Route = Qrs + "/{id}/title")] HttpRequest req, string id)
    {
        var context = req.HttpContext;
        var body = await RequestJson.ReadObjectAsync(context);
        var title = body.OptionalString("title", 255);
        if (string.IsNullOrWhiteSpace(title)) throw ApiProblem.BadRequest("title is required and must not be empty.");
        var updated = await store.UpdateAsync(context.Caller(), id, current =>
        {
            current["name"] = title.Trim();
            return current;
        }, context.RequestAborted);
        return Envelope.OkNode(updated.View());
    }

    [Function("QrsApprove"), Requires(Role.Admin), EndpointSummary("Approval workflow: publish an editor's pending change")]
    public Task<IResult> ApproveAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = Qrs + "/{id}/approve")] HttpRequest req, string id) =>
        DecideAsync(req.HttpContext, id, approve: true);

    [Function("QrsReject"), Requires(Role.Admin), EndpointSummary("Approval workflow: discard an editor's pending change")]
    public Task<IResult> RejectAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = Qrs + "/{id}/reject")] HttpRequest req, string id) =>
        DecideAsync(req.HttpContext, id, approve: false);

    private async Task<IResult> DecideAsync(HttpContext context, string id, bool approve) =>
        Envelope.OkNode((await store.DecideAsync(context.Caller(), id, approve, context.RequestAborted)).View());

    [Function("QrsGetByTeam"), EndpointSummary("A QR code of the team")]
    public Task<IResult> GetByTeamAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = Qrs + "/teams/{id}")] HttpRequest req, string id) =>
        GetAsync(req.HttpContext, id);

    [Function("QrsGet"), EndpointSummary("A QR code of the team (alias)")]
    public Task<IResult> GetAliasAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = Qrs + "/{id}")] HttpRequest req, string id) =>
        GetAsync(req.HttpContext, id);

    private async Task<IResult> GetAsync(HttpContext context, string id) =>
        Envelope.OkNode((await store.GetLiveAsync(context.Caller().TeamId, id, context.RequestAborted)).View());

    [Function("QrsList"), EndpointSummary("A page of the team's QR codes (trailing slash optional); folderId: only the codes in that folder (folderId or folderIds)")]
    public async Task<IResult> ListAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = Qrs + "/v2/teams")] HttpRequest req)
    {
        var context = req.HttpContext;
        var limit = RequestJson.QueryInt(context, "limit", 10, 1, 100);
        var page = RequestJson.QueryInt(context, "page", 1, 1, 100_000);
        var (sortBy, sortOrder, search, folderId) = QrListQuery.From(req);
        var teamId = context.Caller().TeamId;
        var result = search.Length > 0
            ? await listing.SearchAsync(teamId, search, sortBy, sortOrder, page, limit, context.RequestAborted, folderId)
            : await listing.PageAsync(teamId, sortBy, sortOrder, page, limit, context.RequestAborted, folderId);
        return Envelope.OkNode(new JsonObject
        {
            ["qrs"] = new JsonArray(result.Qrs.Select(q => (JsonNode)q.View()).ToArray()),
            ["totalCount"] = result.TotalCount,
            ["page"] = page,
            ["limit"] = limit,
        });
    }

    [Function("QrsTeamFromTime"), EndpointSummary("The team's codes updated after a time (ms)")]
    public async Task<IResult> TeamChangesAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = Qrs + "/teams/fromTime/{fromTime}")] HttpRequest req, string fromTime) =>
        Envelope.OkNode(ToArray(await listing.ChangedSinceAsync(req.HttpContext.Caller().TeamId, ParseTime(fromTime), req.HttpContext.RequestAborted)));

    [Function("QrsAllFromTime"), EndpointSummary("Codes of every team the key can read, updated after a time (ms)")]
    public async Task<IResult> AllChangesAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = Qrs + "/all/fromTime/{fromTime}")] HttpRequest req, string fromTime)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        var since = ParseTime(fromTime);
        var teamIds = new List<string> { caller.TeamId };
        if (caller.Key.Scope == KeyScopes.User && caller.Key.UserEmail is { } email)
        {
            await foreach (var link in storage.Users.QueryAsync<UserTeam>(TableQueries.PrefixFilter(email, UserTeam.RowPrefix), cancellationToken: context.RequestAborted))
            {
                if (link.OrgId != caller.OrgId || teamIds.Contains(link.TeamId)) continue;
                var member = await directory.MembershipAsync(link.TeamId, email);
                var team = await directory.TeamAsync(link.TeamId);
                if (member is { Status: "active" } && team is { Archived: false }) teamIds.Add(link.TeamId);
            }
        }
        var perTeam = await Task.WhenAll(teamIds.Select(t => listing.ChangedSinceAsync(t, since, context.RequestAborted)));
        return Envelope.OkNode(ToArray(perTeam.SelectMany(x => x).ToList()));
    }

    private static long ParseTime(string value) =>
        long.TryParse(value, out var ms) && ms >= 0 ? ms : throw ApiProblem.BadRequest("fromTime must be a non-negative integer (epoch milliseconds).");

    private static JsonArray ToArray(IReadOnlyList<StoredQr> qrs) => new(qrs.Select(q => (JsonNode)q.View()).ToArray());

    private const long MaxImageBytes = 1024 * 1024;

    /// <summary>A logo as a raw image body or one multipart file; the type is checked from its first bytes, not trusted from the header.</summary>
    [Function("QrsImage"), Requires(Role.Editor), EndpointSummary("Upload a logo (PNG, JPEG or SVG) into the QR image")]
    public async Task<IResult> ImageAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = Qrs + "/{id}/image")] HttpRequest req, string id)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        await store.GetLiveAsync(caller.TeamId, id, context.RequestAborted);
        ApiErrors.LimitBody(context, MaxImageBytes + 64 * 1024);
        byte[] bytes;
        if (context.Request.HasFormContentType)
        {
            var form = await RequestJson.ReadFormAsync(context);
            var file = form.Files.Count == 1 ? form.Files[0] : throw ApiProblem.BadRequest("Send exactly one image file.");
            if (file.Length > MaxImageBytes) throw new ApiProblem(413, "The image is larger than 1 MB.");
            using var buffer = new MemoryStream();
            await file.CopyToAsync(buffer, context.RequestAborted);
            bytes = buffer.ToArray();
        }
        else
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
            bytes = buffer.ToArray();
        }
        if (bytes.Length == 0) throw ApiProblem.BadRequest("The image is empty.");
        if (bytes.Length > MaxImageBytes) throw new ApiProblem(413, "The image is larger than 1 MB.");
        var (extension, contentType) = Sniff(bytes) ?? throw new ApiProblem(415, "The image must be a PNG, JPEG or SVG file.");

        var blobName = $"{caller.TeamId}/{id}/{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes))}.{extension}";
        await storage.Uploads.GetBlobClient(blobName).UploadAsync(new BinaryData(bytes),
            new Azure.Storage.Blobs.Models.BlobUploadOptions { HttpHeaders = new() { ContentType = contentType } }, context.RequestAborted);
        var updated = await store.UpdateAsync(caller, id, current => current, context.RequestAborted, "codes.updated", blobName);
        return Envelope.OkNode(updated.View());
    }

    /// <summary>
    /// A print-ready image of the code: ?format=png|svg|pdf|eps (default png), ?size= the edge including the margin (png: 64–4,000 pixels,
    /// default 1,024; svg px, pdf and eps points: 36–14,400, default 288 = 4 in), ?margin= the quiet zone in modules (0–16, default the
    /// design's). The bytes themselves (not a redirect: credentials never follow to another host), as an attachment, cached in
    /// Blob Storage under the hash of every input.
    /// </summary>
    [Function("QrsPrintImage"), EndpointSummary("Download a print-ready image: png (up to 4,000 px), svg, pdf or eps (vector)")]
    public async Task<IResult> PrintImageAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = Qrs + "/{id}/image")] HttpRequest req, string id)
    {
        var context = req.HttpContext;
        var spec = PrintSpecOf(req.Query);
        var qr = await store.GetLiveAsync(context.Caller().TeamId, id, context.RequestAborted);
        var (bytes, hash) = await images.PrintAsync(await store.ImageInputAsync(qr, context.RequestAborted), spec, context.RequestAborted);
        // An SVG may carry an uploaded SVG logo: never a document that runs anything on this origin.
        context.Response.Headers.ContentSecurityPolicy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox";
        return Results.File(bytes, spec.ContentType, $"{qr.DisplayId}-{spec.Size}.{spec.Format}", entityTag: new Microsoft.Net.Http.Headers.EntityTagHeaderValue($"\"{hash}\""));
    }

    private static Rendering.PrintSpec PrintSpecOf(IQueryCollection query)
    {
        var format = query["format"].ToString() is { Length: > 0 } f ? f.ToLowerInvariant() : "png";
        if (!Rendering.PrintSpec.Formats.Contains(format)) throw ApiProblem.BadRequest("format must be png, svg, pdf or eps.");
        var (min, max, fallback, unit) = format == "png"
            ? (Rendering.PrintSpec.MinPngSize, Rendering.PrintSpec.MaxPngSize, 1024, "pixels")
            : (Rendering.PrintSpec.MinVectorSize, Rendering.PrintSpec.MaxVectorSize, 288, format == "svg" ? "px" : "points");
        var size = query["size"].ToString() is { Length: > 0 } s
            ? int.TryParse(s, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
                ? n : throw ApiProblem.BadRequest($"size must be a whole number from {min} to {max} ({unit}) for {format}.")
            : fallback;
        int? margin = query["margin"].ToString() is { Length: > 0 } m
            ? int.TryParse(m, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var k) && k <= Rendering.PrintSpec.MaxMargin
                ? k : throw ApiProblem.BadRequest($"margin must be a whole number from 0 to {Rendering.PrintSpec.MaxMargin} (modules).")
            : null;
        return new Rendering.PrintSpec(format, size, margin);
    }

    private static (string Extension, string ContentType)? Sniff(byte[] b)
    {
        if (b.Length > 8 && b[0] == 0x89 && b[1] == 0x50 && b[2] == 0x4E && b[3] == 0x47) return ("png", "image/png");
        if (b.Length > 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return ("jpg", "image/jpeg");
        var head = System.Text.Encoding.UTF8.GetString(b, 0, Math.Min(b.Length, 512)).TrimStart('\uFEFF', ' ', '\r', '\n', '\t');
        if ((head.StartsWith("<svg", StringComparison.Ordinal) || head.StartsWith("<?xml", StringComparison.Ordinal)) && head.Contains("<svg", StringComparison.Ordinal))
            return ("svg", "image/svg+xml");
        return null;
    }
}
