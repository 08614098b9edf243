// The session tables: ids, keys, counters, eviction and removal, on Node and XS.
import { suite, equal, ok, throws, bytesEqual, deepEqual } from "../portable/harness";
import {
  DEFAULT_SESSION_PARAMETERS,
  SessionError,
  SessionTableFullError,
  checkSessionParameters,
  type SecureSession,
  type SecureSessionOptions,
  type Session,
  type SessionManager,
  type SessionRemovalReason,
} from "../../src/transport/session";
import { ManualClock, MemoryLink, makeNode, memoryPeer, I2R_KEY, R2I_KEY, CHALLENGE } from "./transport-fixtures";

function options(localSessionId: number, overrides: Partial<SecureSessionOptions> = {}): SecureSessionOptions {
  return {
    kind: "case",
    localSessionId,
    peerSessionId: (localSessionId % 0xfffe) + 1,
    i2rKey: I2R_KEY,
    r2iKey: R2I_KEY,
    attestationChallenge: CHALLENGE,
    isInitiator: false,
    peerNodeId: 0x1000n + BigInt(localSessionId),
    localNodeId: 0x99n,
    fabricIndex: 1,
    peerAddress: memoryPeer(`peer${localSessionId}`),
    ...overrides,
  };
}

function setup(maxSecureSessions = 8) {
  const clock = new ManualClock();
  const link = new MemoryLink(clock);
  const node = makeNode(link, "device", 42, { maxSecureSessions });
  const removed: { session: Session; reason: SessionRemovalReason }[] = [];
  node.sessions.onRemoved((session, reason) => removed.push({ session, reason }));
  return { clock, link, node, sessions: node.sessions, removed };
}

async function fill(sessions: SessionManager, clock: ManualClock, count: number): Promise<SecureSession[]> {
  const created: SecureSession[] = [];
  for (let i = 1; i <= count; i++) {
    created.push(sessions.createSecureSession(options(sessions.allocateLocalSessionId())));
    await clock.advance(10);
  }
  return created;
}

export default suite("transport sessions", (test) => {
  test("local session ids are random, non-zero, unused and reserved until used or released", () => {
    const { sessions } = setup(64);
    const seen = new Set<number>();
    for (let i = 0; i < 64; i++) {
      const id = sessions.allocateLocalSessionId();
      ok(id >= 1 && id <= 0xffff);
      ok(!seen.has(id), "never handed out twice while reserved");
      seen.add(id);
    }
    equal(sessions.reservedCount, 64);
    throws(() => sessions.allocateLocalSessionId(), /reserved/, "reservations are bounded");
    const [first, second] = [...seen];
    sessions.createSecureSession(options(first!));
    equal(sessions.reservedCount, 63, "creating the session consumes its reservation");
    ok(sessions.remove(second!), "remove releases a reservation");
    equal(sessions.reservedCount, 62);
    equal(sessions.count, 1);
    let unknown = 1;
    while (seen.has(unknown)) unknown++;
    equal(sessions.remove(unknown), false, "an id neither used nor reserved");
  });

  test("secure session parameters are validated", () => {
    const { sessions } = setup();
    throws(() => sessions.createSecureSession(options(0)), /local session id/);
    throws(() => sessions.createSecureSession(options(1, { peerSessionId: 0 })), /peer session id/);
    throws(() => sessions.createSecureSession(options(1, { i2rKey: new Uint8Array(15) })), /I2R key/);
    throws(() => sessions.createSecureSession(options(1, { r2iKey: new Uint8Array(17) })), /R2I key/);
    throws(() => sessions.createSecureSession(options(1, { attestationChallenge: new Uint8Array(0) })), /attestation challenge/);
    throws(() => sessions.createSecureSession(options(1, { peerNodeId: -1n })), /peer node id/);
    throws(() => sessions.createSecureSession(options(1, { fabricIndex: 255 })), /fabric index/);
    throws(() => sessions.createSecureSession(options(1, { caseAuthenticatedTags: [1, 2, 3, 4] })), /CASE authenticated tags/);
    throws(() => sessions.createSecureSession(options(1, { peerParameters: { idleIntervalMs: 3_600_001, activeIntervalMs: 300, activeThresholdMs: 4000 } })), /idle interval/);
    sessions.createSecureSession(options(1));
    const error = throws(() => sessions.createSecureSession(options(1)), /in use/);
    ok(error instanceof SessionError);
    equal(sessions.count, 1);
    throws(() => checkSessionParameters({ idleIntervalMs: 500, activeIntervalMs: 300, activeThresholdMs: 0x10000 }), /active threshold/);
    throws(() => checkSessionParameters({ idleIntervalMs: 500, activeIntervalMs: 1.5, activeThresholdMs: 0 }), /active interval/);
    deepEqual(checkSessionParameters(DEFAULT_SESSION_PARAMETERS), { idleIntervalMs: 500, activeIntervalMs: 300, activeThresholdMs: 4000 });
  });

  test("keys follow the role; nonce node ids are the operational ids for CASE and 0 for PASE", () => {
    const { sessions } = setup();
    const responder = sessions.createSecureSession(options(1));
    bytesEqual(responder.outboundKeys().key, R2I_KEY);
    bytesEqual(responder.inboundKeys().key, I2R_KEY);
    equal(responder.outboundKeys().nonceNodeId, 0x99n);
    equal(responder.inboundKeys().nonceNodeId, 0x1001n);
    const initiator = sessions.createSecureSession(options(2, { isInitiator: true }));
    bytesEqual(initiator.outboundKeys().key, I2R_KEY);
    bytesEqual(initiator.inboundKeys().key, R2I_KEY);
    const pase = sessions.createSecureSession(options(3, { kind: "pase", peerNodeId: 0n, localNodeId: 0n, fabricIndex: 0 }));
    equal(pase.outboundKeys().nonceNodeId, 0n);
    equal(pase.inboundKeys().nonceNodeId, 0n);
    const keys = responder.outboundKeys().key;
    ok(keys !== R2I_KEY, "the session keeps its own copy, so a handshake may wipe its keys");
    sessions.remove(1);
    bytesEqual(keys, new Uint8Array(16), "keys are wiped when the session goes");
    bytesEqual(responder.attestationChallenge, new Uint8Array(16));
  });

  test("each session's outbound counter starts at its own random value in [1, 2^28]", async () => {
    const { sessions, clock } = setup();
    const created = await fill(sessions, clock, 8);
    const starts = created.map((session) => session.counter.peek());
    for (const start of starts) ok(start >= 1 && start <= 2 ** 28, `counter ${start}`);
    equal(new Set(starts).size, 8);
    const first = created[0]!;
    const value = first.counter.next();
    equal(first.counter.next(), value + 1);
  });

  test("a full table evicts the least recently used session and says so", async () => {
    const { sessions, clock, removed } = setup();
    const created = await fill(sessions, clock, 8);
    equal(sessions.count, 8);
    // Traffic on the oldest two makes the third the least recently used.
    sessions.touch(created[0]!);
    await clock.advance(1);
    sessions.touch(created[1]!);
    const newcomer = sessions.createSecureSession(options(sessions.allocateLocalSessionId()));
    equal(sessions.count, 8);
    equal(removed.length, 1);
    equal(removed[0]!.session, created[2]);
    equal(removed[0]!.reason, "evicted");
    ok(created[2]!.removed);
    equal(sessions.secureSession(created[2]!.localSessionId), undefined);
    equal(sessions.secureSession(newcomer.localSessionId), newcomer);
  });

  test("eviction spares the session in use and sessions with exchanges; all busy means table full", async () => {
    const { sessions, clock, removed, node } = setup(4);
    const created = await fill(sessions, clock, 4);
    // created[0] is the oldest, but an exchange is open on it; created[1] carries the current message.
    const exchange = node.exchanges.initiate(created[0]!);
    sessions.currentSession = created[1];
    sessions.createSecureSession(options(sessions.allocateLocalSessionId()));
    equal(removed.length, 1);
    equal(removed[0]!.session, created[2], "the least recently used session that is not in use");
    // Now everything is busy.
    const all = sessions.secureSessions();
    const exchanges = all.map((session) => node.exchanges.initiate(session));
    const error = throws(() => sessions.createSecureSession(options(sessions.allocateLocalSessionId())), /in use/);
    ok(error instanceof SessionTableFullError);
    equal(sessions.count, 4, "nothing evicted");
    sessions.currentSession = undefined;
    for (const each of exchanges) each.close();
    exchange.close();
    sessions.createSecureSession(options(sessions.allocateLocalSessionId()));
    equal(sessions.count, 4);
    equal(removed.length, 2);
  });

  test("remove tells every listener, even when one throws, and a removed session stays gone", () => {
    const { sessions, removed } = setup();
    const session = sessions.createSecureSession(options(5));
    const unsubscribe = sessions.onRemoved(() => {
      throw new Error("listener failure");
    });
    const later: number[] = [];
    sessions.onRemoved((s) => later.push((s as SecureSession).localSessionId));
    throws(() => sessions.remove(5), /listener failure/);
    equal(removed.length, 1);
    deepEqual(later, [5]);
    ok(session.removed);
    equal(sessions.count, 0);
    equal(sessions.remove(5), false);
    unsubscribe();
    sessions.createSecureSession(options(6));
    ok(sessions.remove(6, "removed"));
    deepEqual(later, [5, 6]);
  });

  test("unsecured sessions: found by peer and initiator node id, bounded, least recently used evicted", async () => {
    const { sessions, clock, removed, node } = setup();
    const peers = ["a", "b", "c", "d"].map(memoryPeer);
    const first = sessions.unsecuredForInitiator(peers[0]!, 0x111n)!;
    equal(sessions.unsecuredForInitiator(peers[0]!, 0x111n), first, "same peer and node id: same session");
    const second = sessions.unsecuredForInitiator(peers[0]!, 0x222n)!;
    ok(second !== first, "another node id: another session");
    await clock.advance(5);
    sessions.unsecuredForInitiator(peers[1]!, 0x111n);
    await clock.advance(5);
    const ours = sessions.createUnsecuredSession(peers[2]!);
    ok(ours.isInitiator && ours.initiatorNodeId !== 0n);
    equal(sessions.findUnsecured(peers[2]!, ours.initiatorNodeId, true), ours);
    equal(sessions.findUnsecured(peers[3]!, ours.initiatorNodeId, true), undefined, "another address");
    equal(sessions.unsecuredCount, 4);
    const busy = node.exchanges.initiate(first);
    sessions.unsecuredForInitiator(peers[3]!, 0x333n);
    equal(sessions.unsecuredCount, 4);
    equal(removed.length, 1);
    equal(removed[0]!.session, second, "the oldest session without an exchange is evicted");
    equal(removed[0]!.reason, "evicted");
    ok(second.removed);
    // With every session busy, a new handshake finds no room.
    const exchanges = [sessions.findUnsecured(peers[1]!, 0x111n, false)!, ours, sessions.findUnsecured(peers[3]!, 0x333n, false)!].map((s) =>
      node.exchanges.initiate(s),
    );
    equal(sessions.unsecuredForInitiator(memoryPeer("e"), 0x444n), undefined);
    const error = throws(() => sessions.createUnsecuredSession(memoryPeer("e")), /no room/);
    ok(error instanceof SessionTableFullError);
    equal(sessions.unsecuredCount, 4);
    busy.close();
    for (const exchange of exchanges) exchange.close();
    ok(sessions.unsecuredForInitiator(memoryPeer("e"), 0x444n) !== undefined);
  });

  test("peer activity decides active mode from the peer's threshold", async () => {
    const { sessions, clock } = setup();
    const session = sessions.createSecureSession(options(1, { peerParameters: { idleIntervalMs: 800, activeIntervalMs: 200, activeThresholdMs: 1000 } }));
    equal(session.isPeerActive(clock.now()), false, "never heard from");
    session.lastPeerActivityMs = clock.now();
    await clock.advance(999);
    equal(session.isPeerActive(clock.now()), true);
    await clock.advance(1);
    equal(session.isPeerActive(clock.now()), false);
  });
});
