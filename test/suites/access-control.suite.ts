// Access control evaluation (Matter Core spec 6.6.6) as tables: privilege hierarchy, subjects by
// node id and by CASE Authenticated Tag (identifier and version), targets, fabric isolation,
// groups, and the PASE commissioning rule. Runs on Node and XS.
import { suite, equal, ok } from "../portable/harness";
import {
  AccessControl,
  catMatches,
  catSubject,
  groupSubject,
  isCatSubject,
  isGroupSubject,
  isOperationalNodeId,
  privilegeImplies,
  type AccessControlEntry,
  type SubjectDescriptor,
} from "../../src/interaction/access-control";
import { AuthMode, Privilege, type PrivilegeLevel } from "../../src/interaction/constants";

const { View, ProxyView, Operate, Manage, Administer } = Privilege;
const ALL: PrivilegeLevel[] = [View, ProxyView, Operate, Manage, Administer];
const NAMES: Record<number, string> = { 1: "View", 2: "ProxyView", 3: "Operate", 4: "Manage", 5: "Administer" };

function caseSubject(node: bigint, fabricIndex = 1, cats: number[] = []): SubjectDescriptor {
  return { authMode: AuthMode.Case, subject: node, cats, fabricIndex, isCommissioning: false };
}

function acl(entries: AccessControlEntry[], deviceTypes: Record<number, number[]> = { 0: [0x16], 1: [0x100], 2: [0x10a] }): AccessControl {
  return new AccessControl({ entries: { entriesOf: (f) => entries.filter((e) => e.fabricIndex === f) }, deviceTypesOn: (endpoint) => deviceTypes[endpoint] ?? [] });
}

function entryOf(overrides: Partial<AccessControlEntry>): AccessControlEntry {
  return { fabricIndex: 1, privilege: View, authMode: AuthMode.Case, subjects: null, targets: null, ...overrides };
}

const ON_OFF = { endpoint: 1, cluster: 6 };

export default suite("access control evaluation", (test) => {
  test("privilege hierarchy: what each granted privilege implies", () => {
    // Rows: granted; columns: requested View, ProxyView, Operate, Manage, Administer.
    const table: Record<number, boolean[]> = {
      [View]: [true, false, false, false, false],
      [ProxyView]: [true, true, false, false, false],
      [Operate]: [true, false, true, false, false],
      [Manage]: [true, false, true, true, false],
      [Administer]: [true, true, true, true, true],
    };
    for (const granted of ALL) {
      ALL.forEach((requested, i) => equal(privilegeImplies(granted, requested), table[granted]![i], `${NAMES[granted]} → ${NAMES[requested]}`));
      // The same through a whole ACL evaluation.
      const control = acl([entryOf({ privilege: granted, subjects: [0x1n] })]);
      ALL.forEach((requested, i) => equal(control.allows(caseSubject(0x1n), ON_OFF, requested), table[granted]![i], `ACL ${NAMES[granted]} → ${NAMES[requested]}`));
    }
  });

  test("subjects: node ids, CATs with version at least the entry's, and an empty list for everyone", () => {
    const control = acl([
      entryOf({ privilege: Operate, subjects: [0x1234n] }),
      entryOf({ privilege: Manage, subjects: [catSubject(0xabcd_0003)] }),
      entryOf({ privilege: View, subjects: [] }),
    ]);
    const cases: [string, SubjectDescriptor, PrivilegeLevel, boolean][] = [
      ["listed node, Operate", caseSubject(0x1234n), Operate, true],
      ["listed node, not Manage", caseSubject(0x1234n), Manage, false],
      ["other node, Operate", caseSubject(0x1235n), Operate, false],
      ["other node, View via the empty subject list", caseSubject(0x1235n), View, true],
      ["CAT same version", caseSubject(0x9n, 1, [0xabcd_0003]), Manage, true],
      ["CAT newer version", caseSubject(0x9n, 1, [0xabcd_0007]), Manage, true],
      ["CAT older version", caseSubject(0x9n, 1, [0xabcd_0002]), Manage, false],
      ["CAT other identifier", caseSubject(0x9n, 1, [0xabce_0003]), Manage, false],
      ["CAT among several", caseSubject(0x9n, 1, [0x0001_0001, 0xabcd_0004]), Manage, true],
      ["CAT version 0 never matches", caseSubject(0x9n, 1, [0xabcd_0000]), Manage, false],
    ];
    for (const [name, subject, privilege, expected] of cases) equal(control.allows(subject, ON_OFF, privilege), expected, name);
    equal(catMatches(catSubject(0xabcd_0000), [0xabcd_0005]), false, "an entry CAT of version 0 is invalid");
  });

  test("a node id that happens to look like a CAT is compared as a CAT, never as a node id", () => {
    const control = acl([entryOf({ privilege: Administer, subjects: [0xffff_fffd_abcd_0001n] })]);
    equal(control.allows(caseSubject(0xffff_fffd_abcd_0001n), ON_OFF, View), false, "the subject's node id is not a CAT");
    equal(control.allows(caseSubject(0x5n, 1, [0xabcd_0001]), ON_OFF, View), true);
  });

  test("targets: cluster, endpoint, device type and combinations", () => {
    const control = acl([
      entryOf({ privilege: Operate, subjects: [0x1n], targets: [{ cluster: 6, endpoint: null, deviceType: null }] }),
      entryOf({ privilege: Operate, subjects: [0x2n], targets: [{ cluster: null, endpoint: 2, deviceType: null }] }),
      entryOf({ privilege: Operate, subjects: [0x3n], targets: [{ cluster: 8, endpoint: 1, deviceType: null }] }),
      entryOf({ privilege: Operate, subjects: [0x4n], targets: [{ cluster: null, endpoint: null, deviceType: 0x100 }] }),
      entryOf({ privilege: Operate, subjects: [0x5n], targets: [{ cluster: 6, endpoint: null, deviceType: 0x10a }] }),
      entryOf({ privilege: Operate, subjects: [0x6n], targets: [{ cluster: null, endpoint: null, deviceType: null }] }),
      entryOf({ privilege: Operate, subjects: [0x7n], targets: [{ cluster: null, endpoint: 1, deviceType: 0x100 }] }),
      entryOf({ privilege: Operate, subjects: [0x8n], targets: [{ cluster: 3, endpoint: null, deviceType: null }, { cluster: null, endpoint: 2, deviceType: null }] }),
    ]);
    const cases: [bigint, number, number, boolean][] = [
      [0x1n, 1, 6, true],
      [0x1n, 2, 6, true],
      [0x1n, 1, 8, false],
      [0x2n, 2, 0x28, true],
      [0x2n, 1, 6, false],
      [0x3n, 1, 8, true],
      [0x3n, 2, 8, false],
      [0x3n, 1, 6, false],
      [0x4n, 1, 0x28, true],
      [0x4n, 2, 6, false],
      [0x5n, 2, 6, true],
      [0x5n, 1, 6, false],
      [0x6n, 1, 6, false], // a target naming nothing is invalid
      [0x7n, 1, 6, false], // endpoint and device type together are invalid
      [0x8n, 1, 3, true],
      [0x8n, 2, 0x28, true],
      [0x8n, 1, 0x28, false],
    ];
    for (const [node, endpoint, cluster, expected] of cases) equal(control.allows(caseSubject(node), { endpoint, cluster }, View), expected, `node ${node} on ${endpoint}/${cluster}`);
  });

  test("fabric isolation: entries of another fabric never apply", () => {
    const control = acl([entryOf({ fabricIndex: 2, privilege: Administer, subjects: [0x1n] }), entryOf({ fabricIndex: 1, privilege: View, subjects: [0x1n] })]);
    equal(control.allows(caseSubject(0x1n, 1), ON_OFF, Operate), false, "fabric 1 sees only its View entry");
    equal(control.allows(caseSubject(0x1n, 1), ON_OFF, View), true);
    equal(control.allows(caseSubject(0x1n, 2), ON_OFF, Administer), true);
    equal(control.allows(caseSubject(0x1n, 3), ON_OFF, View), false, "a fabric without entries gets nothing");
    equal(control.allows(caseSubject(0x1n, 0), ON_OFF, View), false, "no fabric, no access");
    // An entry source that returns other fabrics' entries by mistake is still filtered.
    const leaky = new AccessControl({ entries: { entriesOf: () => [entryOf({ fabricIndex: 2, privilege: Administer })] }, deviceTypesOn: () => [] });
    equal(leaky.allows(caseSubject(0x1n, 1), ON_OFF, View), false);
  });

  test("auth modes: a CASE entry is not a group entry; groups never administer", () => {
    const group = groupSubject(0x0101);
    const control = acl([
      entryOf({ authMode: AuthMode.Group, privilege: Operate, subjects: [group] }),
      entryOf({ authMode: AuthMode.Group, privilege: Administer, subjects: [groupSubject(0x0202)] }),
      entryOf({ authMode: AuthMode.Case, privilege: Administer, subjects: [0x1n] }),
    ]);
    const groupDescriptor = (id: number): SubjectDescriptor => ({ authMode: AuthMode.Group, subject: groupSubject(id), cats: [], fabricIndex: 1, isCommissioning: false });
    equal(control.allows(groupDescriptor(0x0101), ON_OFF, Operate), true);
    equal(control.allows(groupDescriptor(0x0101), ON_OFF, Manage), false);
    equal(control.allows(groupDescriptor(0x0202), ON_OFF, View), false, "an Administer group entry grants nothing");
    equal(control.allows(caseSubject(group), ON_OFF, View), false, "a CASE subject does not match group entries");
    equal(control.allows({ ...groupDescriptor(0x0303), subject: 0x1n }, ON_OFF, View), false, "a group subject does not match CASE entries");
  });

  test("PASE: Administer on the root endpoint while commissioning, nothing otherwise, whatever the ACL says", () => {
    const control = acl([entryOf({ authMode: AuthMode.Pase, privilege: Administer }), entryOf({ privilege: Administer })]);
    const pase = (isCommissioning: boolean, fabricIndex = 0): SubjectDescriptor => ({ authMode: AuthMode.Pase, subject: 0n, cats: [], fabricIndex, isCommissioning });
    for (const privilege of ALL) {
      equal(control.allows(pase(true), { endpoint: 0, cluster: 0x30 }, privilege), true, `commissioning, endpoint 0, ${NAMES[privilege]}`);
      equal(control.allows(pase(true, 1), { endpoint: 0, cluster: 0x1f }, privilege), true, "also once AddNOC gave the session a fabric");
      equal(control.allows(pase(true), ON_OFF, privilege), false, `commissioning, endpoint 1, ${NAMES[privilege]}`);
      equal(control.allows(pase(false), { endpoint: 0, cluster: 0x30 }, privilege), false, `not commissioning, ${NAMES[privilege]}`);
      equal(control.allows(pase(false, 1), { endpoint: 0, cluster: 0x30 }, privilege), false, "a PASE entry in the ACL grants nothing");
    }
  });

  test("subject id classes", () => {
    ok(isOperationalNodeId(1n) && isOperationalNodeId(0xffff_ffef_ffff_ffffn));
    ok(!isOperationalNodeId(0n) && !isOperationalNodeId(0xffff_fff0_0000_0000n));
    ok(isCatSubject(0xffff_fffd_0001_0001n) && !isCatSubject(0xffff_fffe_0001_0001n));
    ok(isGroupSubject(0xffff_ffff_ffff_0001n) && !isGroupSubject(0xffff_ffff_ffff_0000n) && !isGroupSubject(0xffff_fffd_0001_0001n));
    equal(catSubject(0x0001_0002), 0xffff_fffd_0001_0002n);
    equal(groupSubject(0x1234), 0xffff_ffff_ffff_1234n);
  });
});
