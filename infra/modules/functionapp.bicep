// Flex Consumption plan and the Linux function app: the Functions host (runtime dotnet-isolated 10.0) starts
// our .NET isolated worker from the deployed package, serves HTTP through the worker's ASP.NET Core
// integration and runs the queue triggers itself.
// On Flex the runtime lives in functionAppConfig.runtime, so FUNCTIONS_WORKER_RUNTIME,
// FUNCTIONS_EXTENSION_VERSION and WEBSITE_RUN_FROM_PACKAGE must not appear among the app settings.
@description('Function app name.')
param name string
@description('Region.')
param location string
@description('Resource tags.')
param tags object
@description('Resource id of the user-assigned identity.')
param identityId string
@description('Client id of the user-assigned identity.')
param identityClientId string
@description('URL of the blob container the app package is deployed to.')
param deploymentContainerUrl string
@description('Blob service endpoint.')
param blobServiceUri string
@description('Queue service endpoint.')
param queueServiceUri string
@description('Table service endpoint.')
param tableServiceUri string
@description('Application Insights connection string (holds no secret: the resource accepts only Entra-authenticated telemetry).')
param appInsightsConnectionString string
@description('Largest instance count.')
param maximumInstanceCount int
@description('Memory per instance (MB).')
param instanceMemoryMB int
@description('Always-ready instances for the HTTP group.')
param alwaysReadyHttpInstances int
@description('Base URL of scan links, ending in /.')
param publicBaseUrl string
@description('Base URL of QR images, ending in /.')
param imageBaseUrl string
@description('Comma-separated host names on which scans of every team resolve.')
param sharedScanHosts string
@description('Key Vault holding the webhook secret keys.')
param keyVaultName string
@description('Ids of the webhook secret keys (Key Vault secrets webhook-secret-key-{id}); the last one seals new secrets.')
param webhookSecretKeyIds array

@description('Whether Front Door is in front of the app: then only our Front Door profile may call it.')
param behindFrontDoor bool
@description('Id of that Front Door profile (sent as X-Azure-FDID); empty without Front Door.')
param frontDoorId string
@description('Addresses (CIDR) allowed to reach the deployment (SCM) site; empty: any address (deploying still needs credentials for the app).')
param deploymentAllowedAddresses array

// Each key is a Key Vault reference, resolved by the platform with the user-assigned identity (keyVaultReferenceIdentity):
// the app sees the key's value, the storage account never holds it, and no key appears in this template or its deployment.
var webhookKeySettings = [for id in webhookSecretKeyIds: {
  name: 'Webhooks__SecretKeys__${id}'
  value: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=webhook-secret-key-${id})'
}]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${name}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      // Behind Front Door the app answers only our profile: the AzureFrontDoor.Backend addresses are shared by every
      // Front Door customer, so the rule also requires our profile's id in X-Azure-FDID; everything else is denied.
      // Called directly on its azurewebsites name a caller could otherwise choose the host and client headers.
      ipSecurityRestrictionsDefaultAction: behindFrontDoor ? 'Deny' : 'Allow'
      ipSecurityRestrictions: behindFrontDoor
        ? [
            {
              name: 'front-door'
              action: 'Allow'
              priority: 100
              tag: 'ServiceTag'
              ipAddress: 'AzureFrontDoor.Backend'
              headers: { 'x-azure-fdid': [frontDoorId] }
            }
          ]
        : []
      // Deployment (the SCM site, where the package is pushed) never comes through Front Door: its own rules.
      scmIpSecurityRestrictionsUseMain: false
      scmIpSecurityRestrictionsDefaultAction: empty(deploymentAllowedAddresses) ? 'Allow' : 'Deny'
      scmIpSecurityRestrictions: [for (range, i) in deploymentAllowedAddresses: {
        name: 'deployer-${i}'
        action: 'Allow'
        priority: 100 + i
        ipAddress: range
      }]
      appSettings: concat([
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
        { name: 'AzureWebJobsStorage__blobServiceUri', value: blobServiceUri }
        { name: 'AzureWebJobsStorage__queueServiceUri', value: queueServiceUri }
        { name: 'AzureWebJobsStorage__tableServiceUri', value: tableServiceUri }
        { name: 'AZURE_CLIENT_ID', value: identityClientId }
        // Application Insights has local (key) auth off, so telemetry must carry an Entra token. The Functions
        // host sends it: the authentication string makes it take a token for this user-assigned identity,
        // which holds Monitoring Metrics Publisher on the component (rbac.bicep). The isolated worker sends
        // no telemetry of its own (its ILogger output goes to the host over gRPC), so nothing else needs a
        // credential. Whoever adds the worker's Application Insights package must hand it this identity's
        // token credential too, or ingestion rejects everything it sends.
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsightsConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
        // The Bicep created every table, queue and container, so the app must not try to.
        { name: 'QrFunctions__CreateStorage', value: 'false' }
        // No QrFunctions__TrustForwardedFor: under the isolated worker the app never sees X-Forwarded-For. The host
        // replaces it with the address its own connection came from, and the worker's ASP.NET Core integration
        // turns that into the connection's remote address, which is what the app then uses (docs/scans.md).
        { name: 'QrFunctions__PublicBaseUrl', value: publicBaseUrl }
        { name: 'QrFunctions__ImageBaseUrl', value: imageBaseUrl }
        { name: 'QrFunctions__SharedScanHosts', value: sharedScanHosts }
        // Requests carrying this X-Azure-FDID came through our Front Door, whose rule set wrote the visitor's host
        // name and address into headers the app then believes (docs/scans.md). Empty: no such header is believed.
        { name: 'QrFunctions__FrontDoorId', value: frontDoorId }
        { name: 'Webhooks__SecretKeyId', value: last(webhookSecretKeyIds) }
      ], webhookKeySettings)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identityId }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        alwaysReady: alwaysReadyHttpInstances > 0 ? [{ name: 'http', instanceCount: alwaysReadyHttpInstances }] : []
      }
      runtime: { name: 'dotnet-isolated', version: '10.0' }
    }
  }
}

output name string = app.name
output defaultHostName string = app.properties.defaultHostName
