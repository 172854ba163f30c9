using System.Net.Mail;
using Microsoft.Azure.Functions.Worker;
using QrFunctions.Auth;
using System.Text.Json;
using Azure.Data.Tables;
using QrFunctions.Storage;

namespace QrFunctions.Email;

/// <summary>One mail to send; the id makes a redelivered queue message write the same outbox row. OrgId: the sending organization (null in messages queued before it was recorded).</summary>
public sealed record OutgoingEmail(string Id, string To, string Subject, string Text, long CreatedAtTicks, string? OrgId = null);

/// <summary>
/// Mail leaves through a queue (email-outbox) so a slow or failing SMTP server never slows or fails the
/// request that caused it; <see cref="EmailSender"/> delivers it.
/// </summary>
public static class EmailOutbox
{
    public static Task EnqueueAsync(StorageAccount storage, string orgId, string to, string subject, string text, CancellationToken ct) =>
        storage.Queue(storage.Names.EmailOutboxQueue).SendMessageAsync(
            JsonSerializer.Serialize(new OutgoingEmail(Ids.New("mail"), to.ToLowerInvariant(), subject, text, DateTime.UtcNow.Ticks, orgId)), ct);
}

/// <summary>
/// Queue function SendEmail: sends by SMTP when Smtp:Host is configured, and always records the message in the
/// outbox table (PartitionKey = recipient, RowKey = "{inverted ticks}|{id}", newest first, OrgId = the sender),
/// which is what the dev-only listing and the tests read.
/// </summary>
public sealed class EmailSender(StorageAccount storage, IConfiguration configuration, ILogger<EmailSender> log)
{
    [Function("SendEmail")]
    public async Task SendAsync([QueueTrigger("email-outbox")] string message, CancellationToken ct)
    {
        var mail = JsonSerializer.Deserialize<OutgoingEmail>(message) ?? throw new FormatException("Empty email message.");
        if (configuration["Smtp:Host"] is { Length: > 0 } host)
        {
            using var smtp = new SmtpClient(host, configuration.GetValue("Smtp:Port", 587)) { EnableSsl = configuration.GetValue("Smtp:EnableSsl", true) };
            if (configuration["Smtp:User"] is { Length: > 0 } user) smtp.Credentials = new System.Net.NetworkCredential(user, configuration["Smtp:Password"]);
            await smtp.SendMailAsync(new MailMessage(configuration["Smtp:From"] ?? "no-reply@qrfunctions.local", mail.To, mail.Subject, mail.Text), ct);
        }
        else
        {
            log.LogInformation("Email (no SMTP configured) to {To}: {Subject}", mail.To, mail.Subject);
        }
        // Keyed by the message's own time and id: a redelivered message rewrites the same row.
        await storage.Table(storage.Names.Outbox).UpsertEntityAsync(new TableEntity(mail.To, $"{long.MaxValue - mail.CreatedAtTicks:D19}|{mail.Id}")
        {
            ["Subject"] = mail.Subject, ["Text"] = mail.Text, ["MailId"] = mail.Id, ["SentBySmtp"] = configuration["Smtp:Host"] is { Length: > 0 },
            ["OrgId"] = mail.OrgId,
        }, cancellationToken: ct);
    }

    /// <summary>The newest mails to one recipient (tests), or only those <paramref name="orgId"/> sent (the dev listing).</summary>
    public static async Task<List<TableEntity>> RecentAsync(StorageAccount storage, string email, int max = 50, string? orgId = null)
    {
        var mails = new List<TableEntity>();
        var filter = orgId is null
            ? TableClient.CreateQueryFilter($"PartitionKey eq {email.ToLowerInvariant()}")
            : TableClient.CreateQueryFilter($"PartitionKey eq {email.ToLowerInvariant()} and OrgId eq {orgId}");
        await foreach (var row in storage.Table(storage.Names.Outbox).QueryAsync<TableEntity>(filter, maxPerPage: max))
        {
            mails.Add(row);
            if (mails.Count == max) break;
        }
        return mails;
    }
}

/// <summary>
/// Development only: the mails the caller's organization sent to a recipient (never another organization's
/// invitation, nor mails recorded before the sender was). Declared like every function (so the host and the
/// development server both serve it), it answers 404 unless QrFunctions:DevEndpoints is true.
/// </summary>
[ApiAccess(Api.ApiSurface.QrApi), Tags("Development")]
public sealed class DevOutboxApi(StorageAccount storage, IConfiguration configuration)
{
    [Function("DevOutbox"), EndpointSummary("Development only: mails the caller's organization sent to a recipient")]
    public async Task<IResult> ListAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "api/dev/outbox")] HttpRequest req)
    {
        if (!configuration.GetValue("QrFunctions:DevEndpoints", false)) throw Api.ApiProblem.NotFound("Not found.");
        var email = req.Query["email"].ToString();
        if (email.Length == 0) throw Api.ApiProblem.BadRequest("email is required.");
        var orgId = req.HttpContext.Caller().OrgId;
        return Api.Envelope.Ok((await EmailSender.RecentAsync(storage, email, orgId: orgId)).Select(m => new { to = m.PartitionKey, subject = m.GetString("Subject"), text = m.GetString("Text") }));
    }
}
