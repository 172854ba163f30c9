// The app's user-assigned managed identity: storage, deployment and telemetry all authenticate with it.
@description('Identity name.')
param name string
@description('Region.')
param location string
@description('Resource tags.')
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
