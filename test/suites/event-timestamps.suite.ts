// Event timestamps on a host clock with sub-millisecond resolution (the simulator's
// performance.now()): the System Timestamp is whole milliseconds, and a wildcard event read that
// includes such an event is answered rather than ended (a fraction used to make BigInt throw).
import { BasicInformationEvent } from "../../src/clusters/basic-information";
import { ClusterId } from "../../src/clusters/ids";
import { equal, ok, suite } from "../portable/harness";
import { eventReports, makeWorld } from "./im-fixtures";

export default suite("event timestamps", (test) => {
  test("an event logged at a fractional millisecond is reported with a whole System Timestamp", async () => {
    const w = makeWorld();
    await w.clock.advance(1234.625);
    w.basic.shutDown();
    equal(w.model.uptimeMs(), 1234, "uptime in whole milliseconds");
    const result = await w.run(w.client.read({ eventRequests: [{}] }));
    equal(result.status, undefined, "the read is answered, not ended");
    const shutDown = eventReports(result).find((e) => e.eventData?.path.cluster === ClusterId.BasicInformation && e.eventData.path.event === BasicInformationEvent.ShutDown);
    ok(shutDown, "the ShutDown event is in the report");
    equal(shutDown.eventData!.systemTimestamp, 1234n);
  });
});
