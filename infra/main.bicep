// QrFunctions on Azure Functions Flex Consumption (.NET isolated worker, runtime dotnet-isolated 10.0),
// storage with identity-only access, monitoring, and an optional Front Door in front of scans (not cached)
// and QR images (cached).
targetScope = 'resourceGroup'

@description('Short name of the environment (dev, prod, eu-west, …); names every resource. The storage account name keeps only its letters a-z and digits.')
@minLength(2)
@maxLength(12)
param environmentName string

@description('Azure region for every resource.')
param location string = resourceGroup().location

@description('Largest number of instances Flex Consumption may scale out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory per instance in MB (512, 2048 or 4096); also the GB-s basis of the bill.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Instances kept warm for the HTTP trigger group (scan redirects): 0 saves money, 1+ removes cold starts.')
@minValue(0)
param alwaysReadyHttpInstances int = 1

@description('Put an Azure Front Door Standard profile in front of the app: scans pass through uncached, QR images are cached at the edge.')
param enableFrontDoor bool = false

@description('Custom host names for scans on Front Door (e.g. qr.example.com). Each needs DNS records; see docs/deploy.md.')
param customDomains array = []

@description('Addresses (CIDR) from which the app package may be deployed (the SCM site); empty: any address (deploying still needs credentials for the app).')
param deploymentAllowedAddresses array = []

@description('Object id of a user or group that deploys and runs the operator command; gets the same data roles as the app. Empty: none.')
param deployerPrincipalId string = ''

@description('Principal type of deployerPrincipalId.')
@allowed(['User', 'Group', 'ServicePrincipal'])
param deployerPrincipalType string = 'User'

@description('Ids of the keys that seal webhook signing secrets, each the Key Vault secret webhook-secret-key-{id} (32 random bytes, base64); the last one seals new secrets. Rotation: docs/webhooks.md.')
@minLength(1)
param webhookSecretKeyIds array = ['1']

var suffix = uniqueString(resourceGroup().id, environmentName)
var tags = { 'azd-env-name': environmentName, application: 'qrfunctions' }
var functionAppName = 'func-qr-${environmentName}-${suffix}'
var deploymentContainerName = 'app-package'
// Storage account names allow 3-24 lowercase letters and digits only, while environmentName may hold '-'
// (or anything else): keep only a-z and 0-9 of the lowercased name, here and nowhere else.
var storageEnvironmentName = join(filter(map(range(0, length(environmentName)), i => substring(toLower(environmentName), i, 1)), c => contains('abcdefghijklmnopqrstuvwxyz0123456789', c)), '')
var storageAccountName = take('stqr${storageEnvironmentName}${suffix}', 24)
var appInsightsName = 'appi-qr-${environmentName}-${suffix}'
var keyVaultName = take('kv-qr-${suffix}', 24)

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: { name: 'id-qr-${environmentName}-${suffix}', location: location, tags: tags }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: storageAccountName
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: { logAnalyticsName: 'log-qr-${environmentName}-${suffix}', appInsightsName: appInsightsName, location: location, tags: tags }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  params: {
    storageAccountName: storageAccountName
    appInsightsName: appInsightsName
    appPrincipalId: identity.outputs.principalId
    deployerPrincipalId: deployerPrincipalId
    deployerPrincipalType: deployerPrincipalType
  }
  dependsOn: [storage, monitoring]
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: keyVaultName
    location: location
    tags: tags
    appPrincipalId: identity.outputs.principalId
    deployerPrincipalId: deployerPrincipalId
    deployerPrincipalType: deployerPrincipalType
  }
}

module frontDoor 'modules/frontdoor.bicep' = if (enableFrontDoor) {
  name: 'frontdoor'
  params: {
    name: 'afd-qr-${environmentName}-${suffix}'
    tags: tags
    appHostName: '${functionAppName}.azurewebsites.net'
    blobHostName: storage.outputs.blobHostName
    customDomains: customDomains
  }
}

var scanHost = enableFrontDoor ? frontDoor!.outputs.endpointHostName : '${functionAppName}.azurewebsites.net'
var imageBaseUrl = enableFrontDoor ? 'https://${frontDoor!.outputs.endpointHostName}/qr-images/' : '${storage.outputs.blobServiceUri}qr-images/'

module app 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: functionAppName
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    deploymentContainerUrl: '${storage.outputs.blobServiceUri}${deploymentContainerName}'
    blobServiceUri: storage.outputs.blobServiceUri
    queueServiceUri: storage.outputs.queueServiceUri
    tableServiceUri: storage.outputs.tableServiceUri
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    publicBaseUrl: 'https://${scanHost}/'
    imageBaseUrl: imageBaseUrl
    // Behind Front Door the azurewebsites name serves nobody directly (access restrictions), so it is not a shared host.
    sharedScanHosts: scanHost
    behindFrontDoor: enableFrontDoor
    frontDoorId: enableFrontDoor ? frontDoor!.outputs.frontDoorId : ''
    deploymentAllowedAddresses: deploymentAllowedAddresses
    keyVaultName: keyVault.outputs.name
    webhookSecretKeyIds: webhookSecretKeyIds
  }
  dependsOn: [rbac]
}

output functionAppName string = app.outputs.name
output functionAppHostName string = app.outputs.defaultHostName
output storageAccountName string = storage.outputs.name
output tableServiceUri string = storage.outputs.tableServiceUri
output blobServiceUri string = storage.outputs.blobServiceUri
output queueServiceUri string = storage.outputs.queueServiceUri
output identityClientId string = identity.outputs.clientId
output frontDoorHostName string = enableFrontDoor ? frontDoor!.outputs.endpointHostName : ''
output publicBaseUrl string = 'https://${scanHost}/'
output keyVaultName string = keyVault.outputs.name
