// A device's message layer and secure channel, built from a Platform and nothing else, so that the
// same function runs on Node (simulator, tests) and inside XS.
//
//   const stack = createSecureChannelStack(platform, { port: 5540 });
//   stack.openCommissioningWindow({ w0, L, salt, iterations });     // PASE from the factory verifier
//   stack.installFabric({ rcac, icac, noc, operationalPrivateKey, ipkEpochKey });
//   const { session } = await stack.establishCase({ fabricIndex: 1, peerNodeId, peerAddress: udpPeer("fd00::1") });
//   stack.close();
import { CtrDrbg, type Random } from "../crypto";
import type { AddressFamily, LogLevel, Platform } from "../platform";
import { ExchangeManager } from "../transport/exchange";
import { DEFAULT_SESSION_PARAMETERS, SessionManager, type SecureSession } from "../transport/session";
import type { Transport } from "../transport/transport";
import { UdpTransport } from "../transport/udp";
import { CaseInitiator, CaseResponder, type EstablishCaseOptions, type EstablishedCase } from "./case";
import { FabricTable, type CaseFabric, type FabricCredentials, type FabricLookup } from "./fabric";
import type { HandshakeContext } from "./handshake";
import { PaseResponder, type CommissioningWindowCloseReason, type PaseVerifier } from "./pase";
import { DEFAULT_RESUMPTION_CACHE_SIZE, ResumptionStore } from "./resumption";
import { SecureChannelServer } from "./secure-channel";
import { localSessionParameters, type LocalSessionParameters } from "./session-parameters";

export type EstablishedBy = "pase" | "case" | "case-resumption";

export interface SecureChannelStackOptions {
  /** UDP port (5540 unless given; 0 picks a free one). */
  port?: number;
  /** Address families to listen on (both by default). */
  families?: AddressFamily[];
  /** False: no UDP transport (only `transports`). */
  udp?: boolean;
  /** Further transports (BTP, test links). */
  transports?: Transport[];
  /** The random source; a CTR_DRBG seeded from the platform's entropy by default. */
  random?: Random;
  /** MRP intervals and revisions this node announces. */
  sessionParameters?: Partial<LocalSessionParameters>;
  maxSecureSessions?: number;
  maxUnsecuredSessions?: number;
  maxExchanges?: number;
  /** The fabrics CASE answers for; an in-memory FabricTable (installFabric) by default. */
  fabrics?: FabricLookup;
  maxFabrics?: number;
  paseTimeoutMs?: number;
  maxPaseFailures?: number;
  caseTimeoutMs?: number;
  maxCaseHandshakes?: number;
  /** Minimum wait Busy reports ask for. */
  busyWaitMs?: number;
  /** Resumption records kept as responder and as initiator (each). */
  resumptionCacheSize?: number;
  onCommissioningWindowClosed?: (reason: CommissioningWindowCloseReason) => void;
  onSessionEstablished?: (session: SecureSession, by: EstablishedBy) => void;
  log?: (level: LogLevel, message: string) => void;
}

export interface SecureChannelStack {
  readonly random: Random;
  readonly sessions: SessionManager;
  readonly exchanges: ExchangeManager;
  readonly udp: UdpTransport | undefined;
  readonly fabrics: FabricLookup;
  readonly localParameters: LocalSessionParameters;
  readonly pase: PaseResponder;
  readonly caseResponder: CaseResponder;
  readonly caseInitiator: CaseInitiator;
  /** Records of sessions peers opened to us, and of sessions we opened. */
  readonly responderResumption: ResumptionStore;
  readonly initiatorResumption: ResumptionStore;
  readonly secureChannel: SecureChannelServer;
  openCommissioningWindow(verifier: PaseVerifier): void;
  closeCommissioningWindow(): void;
  /** Adds a fabric to the built-in table (not available with `options.fabrics`). */
  installFabric(credentials: FabricCredentials): CaseFabric;
  /** Removes a fabric with its sessions and resumption records. */
  removeFabric(fabricIndex: number): boolean;
  establishCase(request: EstablishCaseOptions): Promise<EstablishedCase>;
  /** Sends CloseSession and removes the session. */
  closeSession(session: SecureSession): void;
  /** Stops everything and closes the transports. */
  close(): void;
}

export function createSecureChannelStack(platform: Platform, options: SecureChannelStackOptions = {}): SecureChannelStack {
  const log = options.log ?? ((level: LogLevel, message: string) => platform.log(level, message));
  const random = options.random ?? new CtrDrbg(platform.entropy);
  const clock = platform.clock;
  // Options left undefined take each component's own default.
  const sessionParameters = options.sessionParameters;
  const sessions = new SessionManager({
    clock,
    random,
    maxSecureSessions: options.maxSecureSessions,
    maxUnsecuredSessions: options.maxUnsecuredSessions,
    localParameters: sessionParameters && {
      idleIntervalMs: sessionParameters.idleIntervalMs ?? DEFAULT_SESSION_PARAMETERS.idleIntervalMs,
      activeIntervalMs: sessionParameters.activeIntervalMs ?? DEFAULT_SESSION_PARAMETERS.activeIntervalMs,
      activeThresholdMs: sessionParameters.activeThresholdMs ?? DEFAULT_SESSION_PARAMETERS.activeThresholdMs,
    },
  });
  const localParameters = localSessionParameters(sessions.localParameters, options.sessionParameters);
  const exchanges = new ExchangeManager({
    sessions,
    clock,
    random,
    log,
    maxExchanges: options.maxExchanges,
  });
  const transports: Transport[] = [];
  let udp: UdpTransport | undefined;
  if (options.udp !== false) {
    udp = new UdpTransport(platform.network, {
      port: options.port,
      families: options.families,
    });
    transports.push(udp);
  }
  transports.push(...(options.transports ?? []));
  for (const transport of transports) exchanges.addTransport(transport);

  const ownTable = options.fabrics ? undefined : new FabricTable({ maxFabrics: options.maxFabrics });
  const fabrics: FabricLookup = options.fabrics ?? ownTable!;
  const cacheSize = options.resumptionCacheSize ?? DEFAULT_RESUMPTION_CACHE_SIZE;
  const responderResumption = new ResumptionStore(cacheSize);
  const initiatorResumption = new ResumptionStore(cacheSize);
  const context: HandshakeContext = { exchanges, sessions, clock, random, log };
  const established = options.onSessionEstablished;

  const pase = new PaseResponder(context, {
    localParameters,
    handshakeTimeoutMs: options.paseTimeoutMs,
    maxFailedAttempts: options.maxPaseFailures,
    busyWaitMs: options.busyWaitMs,
    onWindowClosed: options.onCommissioningWindowClosed,
    onSessionEstablished: established && ((session: SecureSession) => established(session, "pase")),
  });
  const caseLimits = {
    localParameters,
    fabrics,
    handshakeTimeoutMs: options.caseTimeoutMs,
    maxConcurrentHandshakes: options.maxCaseHandshakes,
  };
  const caseResponder = new CaseResponder(context, {
    ...caseLimits,
    resumption: responderResumption,
    busyWaitMs: options.busyWaitMs,
    onSessionEstablished: established && ((session: SecureSession, resumed: boolean) => established(session, resumed ? "case-resumption" : "case")),
  });
  const caseInitiator = new CaseInitiator(context, { ...caseLimits, resumption: initiatorResumption });
  const secureChannel = new SecureChannelServer({ exchanges, sessions, pase, caseResponder, log });

  const dropFabricState = (fabric: CaseFabric) => {
    responderResumption.removeFabric(fabric.fabricIndex);
    initiatorResumption.removeFabric(fabric.fabricIndex);
    for (const session of sessions.secureSessions()) if (session.fabricIndex === fabric.fabricIndex) sessions.remove(session.localSessionId);
  };
  const stopWatchingFabrics = ownTable?.onRemoved(dropFabricState);

  let closed = false;
  return {
    random,
    sessions,
    exchanges,
    udp,
    fabrics,
    localParameters,
    pase,
    caseResponder,
    caseInitiator,
    responderResumption,
    initiatorResumption,
    secureChannel,
    openCommissioningWindow: (verifier) => pase.openCommissioningWindow(verifier),
    closeCommissioningWindow: () => pase.closeCommissioningWindow(),
    installFabric(credentials) {
      if (!ownTable) throw new Error("installFabric needs the built-in fabric table; this stack was given its own fabrics");
      return ownTable.add(credentials);
    },
    removeFabric(fabricIndex) {
      if (ownTable) return ownTable.remove(fabricIndex);
      const fabric = fabrics.fabric(fabricIndex);
      if (fabric) dropFabricState(fabric);
      return fabric !== undefined;
    },
    establishCase: (request) => caseInitiator.establish(request),
    closeSession: (session) => secureChannel.closeSession(session),
    close() {
      if (closed) return;
      closed = true;
      stopWatchingFabrics?.();
      secureChannel.close();
      pase.close();
      caseResponder.close();
      caseInitiator.close();
      exchanges.close();
      sessions.clear();
      responderResumption.clear();
      initiatorResumption.clear();
      for (const transport of transports) transport.close();
      if (!options.random && random instanceof CtrDrbg) random.destroy();
    },
  };
}
