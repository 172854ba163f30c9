using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Hosting;

/// <summary>In Azure the webhook secret keys come from Key Vault references under the names the app reads (Webhooks:SecretKeys:{id}, Webhooks:SecretKeyId).</summary>
public class WebhookKeyInfrastructureTests
{
    private static string Read(string path) => File.ReadAllText(Path.Combine(RepoPaths.Root, path));

    [Fact]
    public void TheAppReadsItsWebhookKeysFromKeyVaultWithItsOwnIdentity()
    {
        var app = Read("infra/modules/functionapp.bicep");
        Assert.Contains("name: 'Webhooks__SecretKeys__${id}'", app);
        Assert.Contains("value: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=webhook-secret-key-${id})'", app);
        Assert.Contains("{ name: 'Webhooks__SecretKeyId', value: last(webhookSecretKeyIds) }", app);
        Assert.Contains("keyVaultReferenceIdentity: identityId", app);

        var vault = Read("infra/modules/keyvault.bicep");
        Assert.Contains("enableRbacAuthorization: true", vault);
        Assert.Contains("enablePurgeProtection: true", vault);
        Assert.Contains("'4633458b-17de-408a-b874-0445c86b69e6'", vault); // Key Vault Secrets User, for the app's identity
        Assert.Contains("principalId: appPrincipalId", vault);

        Assert.Contains("webhookSecretKeyIds: webhookSecretKeyIds", Read("infra/main.bicep"));
    }
}
