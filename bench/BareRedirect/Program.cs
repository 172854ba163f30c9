// The baseline the scan endpoint is compared with: a static 302 with the same cache headers, nothing else.
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.WebHost.UseUrls($"http://127.0.0.1:{builder.Configuration["PORT"] ?? "7191"}");
var app = builder.Build();
app.MapGet("/{displayId}", (HttpContext context, string displayId) =>
{
    context.Response.Headers.CacheControl = "private, no-store";
    context.Response.Headers["Referrer-Policy"] = "no-referrer";
    return Results.Redirect("https://example.com/landing");
});
app.Run();
