// On/Off cluster (0x0006, Application Cluster spec 1.5, revision 6) with the Lighting feature the
// On/Off Light device type requires: OnTime/OffWaitTime timing (1/10 s), GlobalSceneControl and
// StartUpOnOff. OnOff and StartUpOnOff are kept in the attribute store; at start-up StartUpOnOff
// (when not null) decides the state, as the spec says for a power cycle.
//
// The device drives its output from the `onChange` callback. Scenes are not implemented, so the
// global scene the Lighting commands store and recall is just the on/off state.
import type { TimerHandle } from "../platform";
import { Privilege, Status, freeze } from "../interaction/constants";
import { StatusError } from "../interaction/errors";
import { ClusterServer, attribute, command, defineCluster, type AttributeDefinition, type CommandDefinition, type InvokeContext, type WriteContext } from "../interaction/model";
import { bitmap8, bool, empty, enum8, field, nullable, struct, uint, uint16 } from "../interaction/schema";
import { ClusterId } from "./ids";

export enum OnOffFeature { Lighting = 1 << 0, DeadFrontBehavior = 1 << 1, OffOnly = 1 << 2 }
export enum OnOffAttribute { OnOff = 0x0000, GlobalSceneControl = 0x4000, OnTime = 0x4001, OffWaitTime = 0x4002, StartUpOnOff = 0x4003 }
export enum OnOffCommand { Off = 0x00, On = 0x01, Toggle = 0x02, OffWithEffect = 0x40, OnWithRecallGlobalScene = 0x41, OnWithTimedOff = 0x42 }
export const StartUpOnOff = freeze({ Off: 0, On: 1, Toggle: 2 });

const operate = { privilege: Privilege.Operate };

export const OnOff = defineCluster({
  id: ClusterId.OnOff,
  name: "OnOff",
  revision: 6,
  featureMap: OnOffFeature.Lighting,
  attributes: [
    attribute(OnOffAttribute.OnOff, "onOff", bool, { persistent: true }),
    attribute(OnOffAttribute.GlobalSceneControl, "globalSceneControl", bool),
    attribute(OnOffAttribute.OnTime, "onTime", uint16, { write: Privilege.Operate }),
    attribute(OnOffAttribute.OffWaitTime, "offWaitTime", uint16, { write: Privilege.Operate }),
    attribute(OnOffAttribute.StartUpOnOff, "startUpOnOff", nullable(enum8), { write: Privilege.Manage, persistent: true }),
  ],
  commands: [
    command(OnOffCommand.Off, "off", empty, operate),
    command(OnOffCommand.On, "on", empty, operate),
    command(OnOffCommand.Toggle, "toggle", empty, operate),
    command(OnOffCommand.OffWithEffect, "offWithEffect", struct(field(0, "effectIdentifier", enum8), field(1, "effectVariant", enum8)), operate),
    command(OnOffCommand.OnWithRecallGlobalScene, "onWithRecallGlobalScene", empty, operate),
    command(
      OnOffCommand.OnWithTimedOff,
      "onWithTimedOff",
      struct(field(0, "onOffControl", bitmap8), field(1, "onTime", uint(16, 0, 0xfffe)), field(2, "offWaitTime", uint(16, 0, 0xfffe))),
      operate,
    ),
  ],
});

const ACCEPT_ONLY_WHEN_ON = 0x01;
const TICK_MS = 100;
const EFFECT_VARIANTS: Readonly<Record<number, number>> = freeze({ 0: 2, 1: 0 }); // DelayedAllOff: 0..2, DyingLight: 0

export interface OnOffOptions {
  /** The output follows OnOff. */
  onChange?: (on: boolean) => void;
}

export class OnOffServer extends ClusterServer {
  onOff = false;
  globalSceneControl = true;
  onTime = 0;
  offWaitTime = 0;
  startUpOnOff: number | null = null;
  private declare timer: TimerHandle | undefined;

  constructor(private readonly options: OnOffOptions = {}) {
    super(OnOff);
  }

  override started(): void {
    if (this.startUpOnOff === StartUpOnOff.Off) this.setOn(false);
    else if (this.startUpOnOff === StartUpOnOff.On) this.setOn(true);
    else if (this.startUpOnOff === StartUpOnOff.Toggle) this.setOn(!this.onOff);
    this.options.onChange?.(this.onOff);
  }

  override stopped(): void {
    this.stopTimer();
  }

  override writeAttribute(attribute: AttributeDefinition, value: unknown, context: WriteContext): void {
    if (attribute.id === OnOffAttribute.StartUpOnOff && value !== null && !(Object.values(StartUpOnOff) as number[]).includes(value as number)) {
      throw new StatusError(Status.ConstraintError, `StartUpOnOff ${String(value)} is not defined`);
    }
    super.writeAttribute(attribute, value, context);
    if (attribute.id === OnOffAttribute.OnTime || attribute.id === OnOffAttribute.OffWaitTime) this.updateTimer();
  }

  override invoke(command: CommandDefinition, request: unknown, context: InvokeContext): unknown {
    switch (command.id) {
      case OnOffCommand.Off:
        this.off();
        return undefined;
      case OnOffCommand.On:
        this.on();
        return undefined;
      case OnOffCommand.Toggle:
        if (this.onOff) this.off();
        else this.on();
        return undefined;
      case OnOffCommand.OffWithEffect: {
        const { effectIdentifier, effectVariant } = request as { effectIdentifier: number; effectVariant: number };
        const maxVariant = EFFECT_VARIANTS[effectIdentifier];
        if (maxVariant === undefined || effectVariant > maxVariant) throw new StatusError(Status.ConstraintError, "unknown effect");
        // Storing the global scene: with no Scenes cluster, remembering that one is stored.
        if (this.globalSceneControl) this.set("globalSceneControl", false);
        this.off();
        return undefined;
      }
      case OnOffCommand.OnWithRecallGlobalScene:
        if (this.globalSceneControl) return undefined;
        this.set("globalSceneControl", true);
        this.on();
        return undefined;
      case OnOffCommand.OnWithTimedOff:
        this.onWithTimedOff(request as { onOffControl: number; onTime: number; offWaitTime: number });
        return undefined;
      default:
        return super.invoke(command, request, context);
    }
  }

  /** Turns the output on (the On command's effect). */
  on(): void {
    if (this.onTime === 0) this.set("offWaitTime", 0);
    this.set("globalSceneControl", true);
    this.setOn(true);
    this.updateTimer();
  }

  /** Turns the output off (the Off command's effect). */
  off(): void {
    this.set("onTime", 0);
    this.setOn(false);
    this.updateTimer();
  }

  private onWithTimedOff(request: { onOffControl: number; onTime: number; offWaitTime: number }): void {
    if (request.onOffControl & ACCEPT_ONLY_WHEN_ON && !this.onOff) return;
    if (this.offWaitTime > 0 && !this.onOff) {
      // Delayed Off: the guard time may only shrink.
      this.set("offWaitTime", Math.min(this.offWaitTime, request.offWaitTime));
    } else {
      this.set("onTime", Math.max(this.onTime, request.onTime));
      this.set("offWaitTime", request.offWaitTime);
      this.setOn(true);
    }
    this.updateTimer();
  }

  private setOn(on: boolean): void {
    if (this.onOff === on) return;
    this.set("onOff", on);
    this.options.onChange?.(on);
  }

  /** Runs the 1/10 s timer while in Timed On (OnTime counting) or Delayed Off (OffWaitTime counting). */
  private updateTimer(): void {
    const counting = (this.onOff && this.onTime > 0 && this.onTime < 0xffff) || (!this.onOff && this.offWaitTime > 0 && this.offWaitTime < 0xffff);
    if (!counting) return this.stopTimer();
    if (this.timer !== undefined || !this.isAttached) return;
    this.timer = this.node.clock.setTimer(TICK_MS, () => {
      this.timer = undefined;
      if (this.onOff && this.onTime > 0) {
        this.set("onTime", this.onTime - 1);
        if (this.onTime === 0) this.setOn(false);
      } else if (!this.onOff && this.offWaitTime > 0) {
        this.set("offWaitTime", this.offWaitTime - 1);
      }
      this.updateTimer();
    });
  }

  private stopTimer(): void {
    if (this.timer !== undefined) this.node.clock.clearTimer(this.timer);
    this.timer = undefined;
  }
}
