// PASE, device side (spec 4.14.1): PBKDFParamRequest/Response, Pake1, Pake2, Pake3, then a PASE
// session keyed from SPAKE2+'s Ke.
//
// Rules the responder enforces:
// - Only while the commissioning window is open (a request otherwise gets Failure/InvalidParameter).
// - One handshake at a time: another PBKDFParamRequest meanwhile gets Busy with a minimum wait.
//   The same while the PASE session this window established exists (CHIP stops listening for
//   PASE then, matter.js ignores the request): commissioning runs over that one session.
// - A handshake must finish within `handshakeTimeoutMs` (60 s, matter.js's and CHIP's order of
//   magnitude) or it is abandoned and its state released.
// - Every failure after a request was accepted (bad message, wrong passcode, peer's error report,
//   timeout) counts; after `maxFailedAttempts` (20, spec 5.5) the window closes and says so.
// - Every failure the peer did not report itself is answered with a StatusReport.
// Secrets (w0, L copies, y, Ke, the session keys) are wiped when the handshake ends either way.
import { concatBytes, utf8Encode } from "../codec/bytes";
import { Spake2pVerifier, hkdfSha256, isValidPublicKey, sha256 } from "../crypto";
import type { TimerHandle } from "../platform";
import { SECURE_CHANNEL_PROTOCOL_ID, type Exchange, type ReceivedMessage } from "../transport/exchange";
import type { SecureSession, UnsecuredSession } from "../transport/session";
import { PeerStatusError, SecureChannelError } from "./errors";
import { UnsecuredSessionReleaser, asHandshakeError, busyWhenFull, failHandshake, notifyApplication, receiveHandshakeMessage, sendStatus, step, type HandshakeContext, splitSessionKeys } from "./handshake";
import {
  PBKDF_MAX_ITERATIONS,
  PBKDF_MAX_SALT_LENGTH,
  PBKDF_MIN_ITERATIONS,
  PBKDF_MIN_SALT_LENGTH,
  RANDOM_LENGTH,
  decodePake1,
  decodePake3,
  decodePbkdfParamRequest,
  encodePake2,
  encodePbkdfParamResponse,
} from "./messages";
import type { LocalSessionParameters } from "./session-parameters";
import { SecureChannelCode, SecureChannelOpcode, busyStatus, secureChannelStatus } from "./status-report";

export const PASE_CONTEXT_PREFIX = "CHIP PAKE V1 Commissioning";
export const SESSION_KEYS_INFO = "SessionKeys";
export const DEFAULT_PASE_TIMEOUT_MS = 60_000;
/** Spec 5.5: the commissioning window closes after 20 failed PASE attempts. */
export const DEFAULT_MAX_PASE_FAILURES = 20;
/** What Busy asks a second commissioner to wait: long enough for a handshake to finish. */
export const DEFAULT_BUSY_WAIT_MS = 5_000;
/** Spec 5.1.1.6: the passcode id of the onboarding passcode. */
export const DEFAULT_PASSCODE_ID = 0;

/** The SPAKE2+ verifier of the commissioning window (from the factory partition or a new one for ECM). */
export interface PaseVerifier {
  w0: Uint8Array;
  L: Uint8Array;
  salt: Uint8Array;
  iterations: number;
  passcodeId?: number;
}

export type CommissioningWindowCloseReason = "closed" | "too-many-failures";

export interface PaseResponderOptions {
  localParameters: LocalSessionParameters;
  handshakeTimeoutMs?: number;
  maxFailedAttempts?: number;
  busyWaitMs?: number;
  onWindowClosed?: (reason: CommissioningWindowCloseReason) => void;
  onSessionEstablished?: (session: SecureSession) => void;
}

interface Window {
  w0: Uint8Array;
  L: Uint8Array;
  salt: Uint8Array;
  iterations: number;
  passcodeId: number;
}

interface Handshake {
  exchange: Exchange;
  cancelled: boolean;
  timer: TimerHandle | undefined;
}

function checkVerifier(verifier: PaseVerifier): Window {
  const passcodeId = verifier.passcodeId ?? DEFAULT_PASSCODE_ID;
  if (!(verifier.w0 instanceof Uint8Array) || verifier.w0.length !== 32) throw new SecureChannelError("verifier w0 must be 32 bytes");
  if (!isValidPublicKey(verifier.L)) throw new SecureChannelError("verifier L must be an uncompressed P-256 point");
  if (verifier.salt.length < PBKDF_MIN_SALT_LENGTH || verifier.salt.length > PBKDF_MAX_SALT_LENGTH) {
    throw new SecureChannelError(`PBKDF salt must be ${PBKDF_MIN_SALT_LENGTH}..${PBKDF_MAX_SALT_LENGTH} bytes`);
  }
  if (!Number.isInteger(verifier.iterations) || verifier.iterations < PBKDF_MIN_ITERATIONS || verifier.iterations > PBKDF_MAX_ITERATIONS) {
    throw new SecureChannelError(`PBKDF iterations must be ${PBKDF_MIN_ITERATIONS}..${PBKDF_MAX_ITERATIONS}`);
  }
  if (!Number.isInteger(passcodeId) || passcodeId < 0 || passcodeId > 0xffff) throw new SecureChannelError("passcode id must be 0..65535");
  return { w0: verifier.w0.slice(), L: verifier.L.slice(), salt: verifier.salt.slice(), iterations: verifier.iterations, passcodeId };
}

export class PaseResponder {
  readonly handshakeTimeoutMs: number;
  readonly maxFailedAttempts: number;
  private readonly busyWaitMs: number;
  private readonly releaser: UnsecuredSessionReleaser;
  private window: Window | undefined;
  private handshake: Handshake | undefined;
  private established: SecureSession | undefined;
  private failures = 0;

  constructor(
    private readonly context: HandshakeContext,
    private readonly options: PaseResponderOptions,
  ) {
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_PASE_TIMEOUT_MS;
    this.maxFailedAttempts = options.maxFailedAttempts ?? DEFAULT_MAX_PASE_FAILURES;
    this.busyWaitMs = options.busyWaitMs ?? DEFAULT_BUSY_WAIT_MS;
    this.releaser = new UnsecuredSessionReleaser(context.sessions, context.clock);
  }

  get windowOpen(): boolean {
    return this.window !== undefined;
  }

  get handshakeInProgress(): boolean {
    return this.handshake !== undefined;
  }

  /** Failed attempts since the window opened. */
  get failedAttempts(): number {
    return this.failures;
  }

  /** The PASE session established through the window, while it exists. */
  get session(): SecureSession | undefined {
    return this.established && !this.established.removed ? this.established : undefined;
  }

  /** Opens (or reopens with a new verifier) the commissioning window; the failure count restarts. */
  openCommissioningWindow(verifier: PaseVerifier): void {
    const window = checkVerifier(verifier);
    this.forgetWindow();
    this.window = window;
    this.failures = 0;
  }

  /** Closes the window; a handshake in progress is abandoned. */
  closeCommissioningWindow(): void {
    this.closeWindow("closed");
  }

  /** Shutdown: the window closes without a callback and pending work stops. */
  close(): void {
    this.forgetWindow();
    this.cancelHandshake();
    this.releaser.close();
  }

  /** Takes a PBKDFParamRequest that opened `exchange`. */
  handle(exchange: Exchange, request: ReceivedMessage): void {
    const session = exchange.session;
    if (session.kind !== "unsecured") {
      this.refuse(exchange, secureChannelStatus(SecureChannelCode.invalidParameter), "PASE over a secure session");
      return;
    }
    if (!this.window) {
      this.refuse(exchange, secureChannelStatus(SecureChannelCode.invalidParameter), "the commissioning window is closed");
      return;
    }
    if (this.handshake) {
      this.refuse(exchange, busyStatus(this.busyWaitMs), "a PASE handshake is in progress");
      return;
    }
    if (this.established && !this.established.removed) {
      this.refuse(exchange, busyStatus(this.busyWaitMs), "a PASE session is established");
      return;
    }
    const handshake: Handshake = { exchange, cancelled: false, timer: undefined };
    this.handshake = handshake;
    // The deadline also fires while no message is awaited (during our own computations).
    handshake.timer = this.context.clock.setTimer(this.handshakeTimeoutMs, () => {
      handshake.timer = undefined;
      if (this.handshake === handshake) exchange.abort();
    });
    void this.run(handshake, this.window, request, session);
  }

  /** Refusals go out once, unacknowledged: a retransmitted request simply gets the same answer. */
  private refuse(exchange: Exchange, report: ReturnType<typeof secureChannelStatus>, why: string): void {
    this.context.log("info", `PASE request refused: ${why}`);
    sendStatus(this.context, exchange, report, false);
    exchange.close();
    if (exchange.session.kind === "unsecured") this.releaser.release(exchange.session);
  }

  private async run(handshake: Handshake, window: Window, first: ReceivedMessage, unsecured: UnsecuredSession): Promise<void> {
    const { context } = this;
    const { exchange } = handshake;
    const deadline = context.clock.now() + this.handshakeTimeoutMs;
    let localSessionId: number | undefined;
    let verifier: Spake2pVerifier | undefined;
    let sessionCreated = false;
    try {
      const request = decodePbkdfParamRequest(first.payload);
      if (request.passcodeId !== window.passcodeId) throw new SecureChannelError(`unknown passcode id ${request.passcodeId}`);
      const peerParameters = request.initiatorSessionParameters?.mrp;
      if (peerParameters) unsecured.peerParameters = peerParameters;
      const sessionId = (localSessionId = busyWhenFull(() => context.sessions.allocateLocalSessionId()));
      const responsePayload = encodePbkdfParamResponse({
        initiatorRandom: request.initiatorRandom,
        responderRandom: context.random.bytes(RANDOM_LENGTH),
        responderSessionId: sessionId,
        ...(request.hasPbkdfParameters ? {} : { pbkdfParameters: { iterations: window.iterations, salt: window.salt } }),
        responderSessionParameters: this.options.localParameters,
      });
      exchange.send(SECURE_CHANNEL_PROTOCOL_ID, SecureChannelOpcode.pbkdfParamResponse, responsePayload);
      const spakeContext = sha256(concatBytes(utf8Encode(PASE_CONTEXT_PREFIX), first.payload, responsePayload));

      const pake1 = decodePake1((await receiveHandshakeMessage(exchange, SecureChannelOpcode.pake1, deadline, context.clock)).payload);
      // Made only now, so that an early failure leaves no copy of w0 behind; respond() wipes its inputs.
      const spake = new Spake2pVerifier({ context: spakeContext, w0: window.w0, L: window.L, random: context.random });
      verifier = spake;
      const { Y, cB } = step("Pake1", () => spake.respond(pake1.pA));
      exchange.send(SECURE_CHANNEL_PROTOCOL_ID, SecureChannelOpcode.pake2, encodePake2({ pB: Y, cB }));

      const pake3 = decodePake3((await receiveHandshakeMessage(exchange, SecureChannelOpcode.pake3, deadline, context.clock)).payload);
      const { Ke } = step("Pake3 (wrong passcode?)", () => spake.confirm(pake3.cA));
      const keys = hkdfSha256(Ke, new Uint8Array(0), utf8Encode(SESSION_KEYS_INFO), 48);
      Ke.fill(0);
      let session: SecureSession;
      try {
        session = busyWhenFull(() =>
          context.sessions.createSecureSession({
            kind: "pase",
            localSessionId: sessionId,
            peerSessionId: request.initiatorSessionId,
            ...splitSessionKeys(keys),
            isInitiator: false,
            peerNodeId: 0n,
            localNodeId: 0n,
            fabricIndex: 0,
            peerAddress: unsecured.peerAddress,
            ...(peerParameters ? { peerParameters } : {}),
          }),
        );
      } finally {
        keys.fill(0);
      }
      sessionCreated = true;
      this.established = session;
      sendStatus(context, exchange, secureChannelStatus(SecureChannelCode.sessionEstablishmentSuccess));
      exchange.close();
      context.log("info", `PASE session ${session.localSessionId} established`);
      this.finish(handshake);
      const established = this.options.onSessionEstablished;
      if (established) notifyApplication(context, "onSessionEstablished", () => established(session));
    } catch (caught) {
      const error = asHandshakeError(caught, "PASE");
      if (localSessionId !== undefined && !sessionCreated) context.sessions.remove(localSessionId);
      if (verifier) {
        // A verifier that answered Pake1 still holds cA and Ke: a failing confirm() wipes them.
        try {
          verifier.confirm(new Uint8Array(0));
        } catch {
          // expected: nothing can confirm an empty cA
        }
      }
      const cancelled = handshake.cancelled;
      failHandshake(context, exchange, error);
      this.finish(handshake);
      if (cancelled) return;
      this.failures++;
      context.log(
        error instanceof PeerStatusError ? "info" : "warn",
        `PASE attempt failed (${this.failures}/${this.maxFailedAttempts}): ${error.message}`,
      );
      if (this.failures >= this.maxFailedAttempts && this.window === window) this.closeWindow("too-many-failures");
    } finally {
      this.releaser.release(unsecured);
    }
  }

  private finish(handshake: Handshake): void {
    if (handshake.timer !== undefined) this.context.clock.clearTimer(handshake.timer);
    handshake.timer = undefined;
    if (this.handshake === handshake) this.handshake = undefined;
  }

  private cancelHandshake(): void {
    const handshake = this.handshake;
    if (!handshake) return;
    handshake.cancelled = true;
    handshake.exchange.abort();
  }

  private closeWindow(reason: CommissioningWindowCloseReason): void {
    if (!this.window) return;
    this.forgetWindow();
    this.cancelHandshake();
    this.context.log("info", `commissioning window closed (${reason})`);
    this.options.onWindowClosed?.(reason);
  }

  private forgetWindow(): void {
    if (!this.window) return;
    this.window.w0.fill(0);
    this.window = undefined;
  }
}
