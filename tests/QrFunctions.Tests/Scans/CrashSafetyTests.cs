using System.Net;
using System.Text.Json.Nodes;
using QrFunctions.Storage;
using QrFunctions.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace QrFunctions.Tests.Scans;

/// <summary>
/// The service process is killed with SIGKILL while scans pour in, three times, then started once more: every scan
/// that was answered with its 302 is counted (its event was in the queue before the answer), and counts beyond those
/// come only from requests whose answer never arrived (their event was written, the answer died with the process).
/// No timing is asserted; each wait is on a condition with a generous bound.
/// </summary>
[Collection(RunsAlone.Name)]
public class KilledServiceLosesNoAnsweredScan(ScanTestService service, ITestOutputHelper output) : IClassFixture<ScanTestService>
{
    private const int Kills = 3;
    private const int Workers = 32;
    private const int AnswersBeforeEachKill = 200;
    private const int MaxRequestsPerRound = 20_000;
    private const string IPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";

    private sealed class Tally
    {
        public int Sent, Answered, OtherStatus, Unanswered;
        public int InFlight => Volatile.Read(ref Sent) - Volatile.Read(ref Answered) - Volatile.Read(ref OtherStatus) - Volatile.Read(ref Unanswered);
        public override string ToString() => $"{Sent} sent, {Answered} answered 302, {OtherStatus} other answers, {Unanswered} never answered";
    }

    [Fact]
    public async Task EveryRedirectAnsweredBeforeAKillNineIsCountedAfterTheRestart()
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, qrId) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = "https://example.com/landing" });

        var rounds = new List<Tally>();
        for (var round = 0; round < Kills; round++)
        {
            var tally = new Tally();
            rounds.Add(tally);
            using var process = await ServiceProcess.StartAsync(service.Prefix);
            await LoadAndKillAsync(process, displayId, tally);
            output.WriteLine($"kill -9 #{round + 1}: {tally}");
        }

        using var restarted = await ServiceProcess.StartAsync(service.Prefix);
        var queue = service.Storage.Queue(service.Storage.Names.ScanEventsQueue);
        // Messages a killed poller had taken come back after the visibility timeout (10 s); the count includes them.
        var deadline = DateTime.UtcNow.AddSeconds(45);
        while ((await queue.GetPropertiesAsync()).Value.ApproximateMessagesCount > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the scan queue did not drain after the restart\n{restarted.Output}");
            await Task.Delay(200);
        }
        var poison = service.Storage.Queue(StorageNames.PoisonQueueOf(queue.Name));
        Assert.Equal(0, (await poison.GetPropertiesAsync()).Value.ApproximateMessagesCount);

        var counted = (long)(await ScanTestService.OverviewAsync(tenant, qrId))["totalScans"]!;
        int sent = rounds.Sum(r => r.Sent), answered = rounds.Sum(r => r.Answered), unanswered = rounds.Sum(r => r.Unanswered);
        output.WriteLine($"in all: {sent} sent, {answered} answered 302, {unanswered} never answered; {counted} counted after the restart");
        Assert.All(rounds, r => Assert.True(r.Unanswered > 0, $"a kill should cut requests in flight: {r}"));
        Assert.True(counted >= answered, $"{answered - counted} scans answered 302 were lost ({counted} counted of {answered})");
        Assert.True(counted <= sent, $"{counted} counted but only {sent} sent");
    }

    /// <summary>
    /// Workers scan until the kill. Once enough scans were answered, the process is killed while at least half the
    /// workers wait for an answer (answers come in group-commit batches, so right after one there may be none in
    /// flight); the workers stop only after the kill, so whatever they send in between fails too.
    /// </summary>
    private static async Task LoadAndKillAsync(ServiceProcess process, string displayId, Tally tally)
    {
        using var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, MaxConnectionsPerServer = Workers })
            { BaseAddress = process.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        var killed = 0;
        async Task Worker()
        {
            while (Volatile.Read(ref killed) == 0 && Interlocked.Increment(ref tally.Sent) <= MaxRequestsPerRound)
            {
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, "/" + displayId);
                    request.Headers.TryAddWithoutValidation("User-Agent", IPhone);
                    using var response = await http.SendAsync(request);
                    Interlocked.Increment(ref response.StatusCode == HttpStatusCode.Found ? ref tally.Answered : ref tally.OtherStatus);
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
                {
                    Interlocked.Increment(ref tally.Unanswered);
                }
            }
        }
        var workers = Task.WhenAll(Enumerable.Range(0, Workers).Select(_ => Task.Run(Worker)));
        while (!workers.IsCompleted && !(Volatile.Read(ref tally.Answered) >= AnswersBeforeEachKill && tally.InFlight >= Workers / 2)) await Task.Delay(1);
        var loadEndedFirst = workers.IsCompleted;
        process.KillHard();
        Volatile.Write(ref killed, 1);
        await workers;
        tally.Sent = Math.Min(tally.Sent, MaxRequestsPerRound);
        Assert.False(loadEndedFirst, $"the load ended before the kill ({tally})\n{process.Output}");
    }
}
