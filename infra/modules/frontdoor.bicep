// Azure Front Door Standard: every scan goes through to the app uncached (each one must be counted),
// QR images (content-hash names, immutable) are cached at the edge.
@description('Front Door profile name.')
param name string
@description('Resource tags.')
param tags object
@description('Host name of the function app.')
param appHostName string
@description('Host name of the blob endpoint that holds the qr-images container.')
param blobHostName string
@description('Custom host names for scans.')
param customDomains array

resource profile 'Microsoft.Cdn/profiles@2024-02-01' = {
  name: name
  location: 'global'
  tags: tags
  sku: { name: 'Standard_AzureFrontDoor' }
}

resource endpoint 'Microsoft.Cdn/profiles/afdEndpoints@2024-02-01' = {
  parent: profile
  name: 'scan-${uniqueString(profile.id)}'
  location: 'global'
  properties: { enabledState: 'Enabled' }
}

// No health probe: each origin group below holds one origin, so a probe could only mark the sole origin
// down and Front Door would still have nowhere else to send traffic, while every edge location's probes
// would cost billed function runs. If a second app origin is ever added, probe it with
// GET /admin/host/ping, which the Functions host answers without running a function.
resource appOrigins 'Microsoft.Cdn/profiles/originGroups@2024-02-01' = {
  parent: profile
  name: 'app'
  properties: {
    loadBalancingSettings: { sampleSize: 4, successfulSamplesRequired: 3, additionalLatencyInMilliseconds: 50 }
  }
}

resource appOrigin 'Microsoft.Cdn/profiles/originGroups/origins@2024-02-01' = {
  parent: appOrigins
  name: 'functionapp'
  properties: { hostName: appHostName, originHostHeader: appHostName, httpsPort: 443, priority: 1, weight: 1000, enabledState: 'Enabled' }
}

resource imageOrigins 'Microsoft.Cdn/profiles/originGroups@2024-02-01' = {
  parent: profile
  name: 'images'
  properties: {
    loadBalancingSettings: { sampleSize: 4, successfulSamplesRequired: 3, additionalLatencyInMilliseconds: 50 }
  }
}

resource imageOrigin 'Microsoft.Cdn/profiles/originGroups/origins@2024-02-01' = {
  parent: imageOrigins
  name: 'blob'
  properties: { hostName: blobHostName, originHostHeader: blobHostName, httpsPort: 443, priority: 1, weight: 1000, enabledState: 'Enabled' }
}

// Each custom domain is named after its host name (lowercased, '.' to '-', a leading '*' to 'wildcard'),
// so reordering customDomains neither renames nor recreates a domain and its certificate.
resource domains 'Microsoft.Cdn/profiles/customDomains@2024-02-01' = [for host in customDomains: {
  parent: profile
  name: replace(replace(toLower(host), '*', 'wildcard'), '.', '-')
  properties: {
    hostName: host
    tlsSettings: { certificateType: 'ManagedCertificate', minimumTlsVersion: 'TLS12' }
  }
}]

// Images: /qr-images/* to the blob origin, cached (names are content hashes; the blobs say immutable).
resource imageRoute 'Microsoft.Cdn/profiles/afdEndpoints/routes@2024-02-01' = {
  parent: endpoint
  name: 'images'
  properties: {
    originGroup: { id: imageOrigins.id }
    patternsToMatch: ['/qr-images/*']
    supportedProtocols: ['Https']
    httpsRedirect: 'Enabled'
    forwardingProtocol: 'HttpsOnly'
    linkToDefaultDomain: 'Enabled'
    customDomains: [for (host, i) in customDomains: { id: domains[i].id }]
    cacheConfiguration: { queryStringCachingBehavior: 'IgnoreQueryString', compressionSettings: { isCompressionEnabled: true, contentTypesToCompress: ['image/svg+xml'] } }
  }
  dependsOn: [imageOrigin]
}

// The origin host header is the app's azurewebsites name (the app only answers to its own names), and under the
// isolated worker the Functions host replaces X-Forwarded-Host/-For with its own values. So the host name the
// visitor used (a team's custom domain decides which codes resolve) and the address it connected from reach the
// app in headers of our own, overwritten on every request so a visitor cannot supply them. The app believes them
// only when X-Azure-FDID is this profile's id (QrFunctions__FrontDoorId), see docs/scans.md.
// The names are the app's (Scans/EdgeTrust.cs); a test holds the two together.
var visitorHostHeader = 'X-QrFunctions-Visitor-Host'
var visitorAddressHeader = 'X-QrFunctions-Visitor-IP'
// The visitor's country (ISO 3166 alpha-2, from Front Door's geo lookup of the socket address): scan analytics' country.
var visitorCountryHeader = 'X-QrFunctions-Visitor-Country'

resource edgeHeaders 'Microsoft.Cdn/profiles/ruleSets@2024-02-01' = {
  parent: profile
  name: 'edgeheaders'
}

resource visitorHeaders 'Microsoft.Cdn/profiles/ruleSets/rules@2024-02-01' = {
  parent: edgeHeaders
  name: 'visitor'
  properties: {
    order: 1
    matchProcessingBehavior: 'Continue'
    conditions: []
    actions: [
      {
        name: 'ModifyRequestHeader'
        parameters: { typeName: 'DeliveryRuleHeaderActionParameters', headerAction: 'Overwrite', headerName: visitorHostHeader, value: '{hostname}' }
      }
      {
        name: 'ModifyRequestHeader'
        parameters: { typeName: 'DeliveryRuleHeaderActionParameters', headerAction: 'Overwrite', headerName: visitorAddressHeader, value: '{socket_ip}' }
      }
      {
        name: 'ModifyRequestHeader'
        parameters: { typeName: 'DeliveryRuleHeaderActionParameters', headerAction: 'Overwrite', headerName: visitorCountryHeader, value: '{geo_country}' }
      }
    ]
  }
}

// Everything else (scans, API): no cacheConfiguration, so Front Door caches nothing and every scan reaches the app.
resource appRoute 'Microsoft.Cdn/profiles/afdEndpoints/routes@2024-02-01' = {
  parent: endpoint
  name: 'app'
  properties: {
    originGroup: { id: appOrigins.id }
    patternsToMatch: ['/*']
    supportedProtocols: ['Http', 'Https']
    httpsRedirect: 'Enabled'
    forwardingProtocol: 'HttpsOnly'
    linkToDefaultDomain: 'Enabled'
    customDomains: [for (host, i) in customDomains: { id: domains[i].id }]
    ruleSets: [{ id: edgeHeaders.id }]
  }
  dependsOn: [appOrigin, imageRoute, visitorHeaders]
}

output endpointHostName string = endpoint.properties.hostName
@description('The profile\'s id, sent to origins as X-Azure-FDID.')
output frontDoorId string = profile.properties.frontDoorId
