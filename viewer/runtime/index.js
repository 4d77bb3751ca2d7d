/**
 * Entry of the runtime bundle (viewer/static/build/runtime.js), served as
 * /__tandem/runtime.js and injected first into every proxied HTML page.
 */

import { install } from "./install.js";

install(globalThis);
