using System.Net;
using Microsoft.AspNetCore.Http;
using QrFunctions.Scans;
using Xunit;

namespace QrFunctions.Tests.Scans;

public class ClientAddressComesFromTheTrustedEndOfXForwardedFor
{
    private static HttpContext Request(string? forwardedFor)
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Loopback;
        if (forwardedFor is not null) context.Request.Headers["X-Forwarded-For"] = forwardedFor;
        return context;
    }

    [Theory]
    [InlineData("6.6.6.6, 203.0.113.7", 1, "203.0.113.7")]   // what the client wrote is ignored
    [InlineData("6.6.6.6, 203.0.113.7, 198.51.100.9", 2, "203.0.113.7")]
    [InlineData("203.0.113.7:51234", 1, "203.0.113.7")]     // App Service appends the port
    [InlineData("6.6.6.6, 203.0.113.7", 0, "127.0.0.1")]    // not trusted: the connection
    [InlineData("not-an-ip", 1, "127.0.0.1")]
    [InlineData(null, 1, "127.0.0.1")]
    public void TheEntryOfTheOutermostTrustedProxyWins(string? header, int hops, string expected) =>
        Assert.Equal(expected, ScanRequest.ClientAddress(Request(header), hops)?.ToString());
}
