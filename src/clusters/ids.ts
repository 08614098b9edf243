// Cluster and device type identifiers (Matter Application Cluster and Device Library
// specifications 1.4), for the clusters of this firmware and those built later.
export enum ClusterId {
  Identify = 0x0003,
  Groups = 0x0004,
  OnOff = 0x0006,
  LevelControl = 0x0008,
  Descriptor = 0x001d,
  Binding = 0x001e,
  AccessControl = 0x001f,
  BasicInformation = 0x0028,
  OtaSoftwareUpdateProvider = 0x0029,
  OtaSoftwareUpdateRequestor = 0x002a,
  GeneralCommissioning = 0x0030,
  NetworkCommissioning = 0x0031,
  DiagnosticLogs = 0x0032,
  GeneralDiagnostics = 0x0033,
  SoftwareDiagnostics = 0x0034,
  WiFiNetworkDiagnostics = 0x0036,
  EthernetNetworkDiagnostics = 0x0037,
  TimeSynchronization = 0x0038,
  AdministratorCommissioning = 0x003c,
  OperationalCredentials = 0x003e,
  GroupKeyManagement = 0x003f,
  FixedLabel = 0x0040,
  UserLabel = 0x0041,
  ScenesManagement = 0x0062,
}

/** Device types with the revisions of Device Library 1.4 (connectedhomeip data_model/1.4). */
export const DeviceTypes = Object.freeze({
  RootNode: Object.freeze({ type: 0x0016, revision: 3 }),
  OtaRequestor: Object.freeze({ type: 0x0012, revision: 1 }),
  OnOffLight: Object.freeze({ type: 0x0100, revision: 3 }),
});
