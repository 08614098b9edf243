// Every portable vector suite, inside the XS engine (xsnap-worker built from @agoric/xsnap).
import { registerInXs } from "./portable/xs";
import { suiteModules } from "./portable/suites";

await registerInXs(suiteModules());
