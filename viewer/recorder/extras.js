/**
 * What rrweb does not record and the mirror needs (filled in by the fidelity work):
 * returns hooks the recording calls after each full snapshot, after each control input, and on stop.
 */

export function makeExtras() {
  return {
    snapshot() {},
    inputDone() {},
    stop() {},
  };
}
