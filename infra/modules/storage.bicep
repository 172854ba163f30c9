// The storage account and every table, queue (with its poison queue) and container the app uses.
// Names come from ../storage-names.json, the same file the app embeds, so the two cannot drift.
@description('Storage account name (3-24 lowercase letters and digits).')
param name string
@description('Region.')
param location string
@description('Resource tags.')
param tags object
@description('Blob container Flex Consumption deploys the app package from.')
param deploymentContainerName string

var names = loadJsonContent('../storage-names.json')

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    allowSharedKeyAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // Only the QR image container is public (below); every other container stays private.
    allowBlobPublicAccess: true
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: { publicAccess: 'None' }
}

// QR images are read anonymously, by Front Door's image route (its blob origin has no credentials) or straight from
// the container URL without Front Door: 'Blob' access, reads of a named blob, no listing. Their names are SHA-256
// hashes of what they show (a scan URL that is printed anyway), so a name tells nothing that is not public.
resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for c in items(names.containers): {
  parent: blobService
  name: c.value
  properties: { publicAccess: c.key == 'qrImages' ? 'Blob' : 'None' }
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for t in items(names.tables): {
  parent: tableService
  name: t.value
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for q in items(names.queues): {
  parent: queueService
  name: q.value
}]

// The Functions host moves a message that failed maxDequeueCount times to "<queue>-poison".
resource poisonQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for q in items(names.queues): {
  parent: queueService
  name: '${q.value}-poison'
}]

output name string = account.name
output blobServiceUri string = account.properties.primaryEndpoints.blob
output queueServiceUri string = account.properties.primaryEndpoints.queue
output tableServiceUri string = account.properties.primaryEndpoints.table
output blobHostName string = replace(replace(account.properties.primaryEndpoints.blob, 'https://', ''), '/', '')
