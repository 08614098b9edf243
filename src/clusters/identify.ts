// Identify cluster (0x0003, Application Cluster spec 1.2, revision 5): IdentifyTime counts down
// once a second while the endpoint identifies itself; TriggerEffect runs a short effect. What
// "identifying" looks like (a blinking light, a beep) is the device's: it gets callbacks.
import type { TimerHandle } from "../platform";
import { Privilege, Status, freeze } from "../interaction/constants";
import { StatusError } from "../interaction/errors";
import { ClusterServer, attribute, command, defineCluster, type AttributeDefinition, type CommandDefinition, type InvokeContext, type WriteContext } from "../interaction/model";
import { enum8, field, struct, uint16 } from "../interaction/schema";
import { ClusterId } from "./ids";

export enum IdentifyType { None = 0, LightOutput = 1, VisibleIndicator = 2, AudibleBeep = 3, Display = 4, Actuator = 5 }
export const IdentifyEffect = freeze({ Blink: 0x00, Breathe: 0x01, Okay: 0x02, ChannelChange: 0x0b, FinishEffect: 0xfe, StopEffect: 0xff });
const EFFECTS: readonly number[] = freeze(Object.values(IdentifyEffect));

export enum IdentifyCommand { Identify = 0x00, TriggerEffect = 0x40 }

export const Identify = defineCluster({
  id: ClusterId.Identify,
  name: "Identify",
  revision: 5,
  attributes: [attribute(0x0000, "identifyTime", uint16, { write: Privilege.Operate }), attribute(0x0001, "identifyType", enum8, { fixed: true })],
  commands: [
    command(IdentifyCommand.Identify, "identify", struct(field(0, "identifyTime", uint16)), { privilege: Privilege.Manage }),
    command(IdentifyCommand.TriggerEffect, "triggerEffect", struct(field(0, "effectIdentifier", enum8), field(1, "effectVariant", enum8)), { privilege: Privilege.Manage }),
  ],
});

export interface IdentifyOptions {
  identifyType?: number;
  /** Identification starts (true) or stops (false). */
  onIdentify?: (active: boolean) => void;
  onEffect?: (effect: number, variant: number) => void;
}

export class IdentifyServer extends ClusterServer {
  identifyTime = 0;
  declare readonly identifyType: number;
  private declare timer: TimerHandle | undefined;

  constructor(private readonly options: IdentifyOptions = {}) {
    super(Identify);
    this.identifyType = options.identifyType ?? IdentifyType.None;
  }

  override writeAttribute(_attribute: AttributeDefinition, value: unknown, _context: WriteContext): void {
    this.startIdentifying(value as number);
  }

  override invoke(command: CommandDefinition, request: unknown, _context: InvokeContext): unknown {
    if (command.id === IdentifyCommand.Identify) {
      this.startIdentifying((request as { identifyTime: number }).identifyTime);
      return undefined;
    }
    if (command.id === IdentifyCommand.TriggerEffect) {
      const { effectIdentifier, effectVariant } = request as { effectIdentifier: number; effectVariant: number };
      if (!EFFECTS.includes(effectIdentifier) || effectVariant !== 0) throw new StatusError(Status.ConstraintError, "unknown effect");
      this.options.onEffect?.(effectIdentifier, effectVariant);
      return undefined;
    }
    return super.invoke(command, request, _context);
  }

  override stopped(): void {
    this.stopTimer();
  }

  /** Starts (or with 0 stops) identifying for `seconds`. */
  startIdentifying(seconds: number): void {
    const wasActive = this.identifyTime > 0;
    this.set("identifyTime", seconds);
    this.stopTimer();
    if (seconds > 0) this.tick();
    if (wasActive !== seconds > 0) this.options.onIdentify?.(seconds > 0);
  }

  private tick(): void {
    this.timer = this.node.clock.setTimer(1000, () => {
      this.timer = undefined;
      const remaining = this.identifyTime - 1;
      this.set("identifyTime", Math.max(0, remaining));
      if (remaining > 0) this.tick();
      else this.options.onIdentify?.(false);
    });
  }

  private stopTimer(): void {
    if (this.timer !== undefined) this.node.clock.clearTimer(this.timer);
    this.timer = undefined;
  }
}
