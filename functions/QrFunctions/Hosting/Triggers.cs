namespace QrFunctions.Hosting;

/// <summary>Every queue-triggered function of the app. Adding one here is all it takes to run it locally and in Azure.</summary>
public static class Triggers
{
    public static readonly IReadOnlyList<QueueTrigger> All =
    [
        new("AggregateScans", n => n.ScanEventsQueue, typeof(Analytics.ScanBatchAggregator)),
        new("SendEmail", n => n.EmailOutboxQueue, typeof(Email.EmailSender)),
        new("DeliverWebhooks", n => n.WebhookDeliveriesQueue, typeof(Webhooks.WebhookDeliverer)),
    ];
}
