/**
 * The session socket from a control-plane page: hello on open, heartbeat, and
 * reconnection with backoff. `hello()` is asked again on every (re)connect so the
 * caller can send its resume point. A `bye` from the server ends it for good.
 */

const PING_MS = 15000; // heartbeat; the server drops a connection silent for 45 s
const BACKOFF_MIN_MS = 300;
const BACKOFF_MAX_MS = 8000;

export function connect({ url, hello, onMessage, onStatus }) {
  let ws = null;
  let ended = false;
  let backoff = BACKOFF_MIN_MS;
  let ping = 0;
  const status = (s, detail) => onStatus && onStatus(s, detail);

  function open() {
    status("connecting");
    ws = new WebSocket(url);
    ws.onopen = () => {
      backoff = BACKOFF_MIN_MS;
      ws.send(JSON.stringify({ t: "hello", ...hello() }));
      status("open");
      clearInterval(ping);
      ping = setInterval(() => send({ t: "ping" }), PING_MS);
    };
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      if (msg.t === "bye") {
        ended = true;
        status("ended", msg);
      }
      onMessage(msg);
    };
    ws.onclose = (ev) => {
      clearInterval(ping);
      if (ended || (ev.code >= 4000 && ev.code < 4100 && ev.code !== 4003)) {
        ended = true;
        status("ended", { code: ev.code, message: ev.reason });
        return;
      }
      status("reconnecting");
      setTimeout(open, backoff);
      backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
    };
  }

  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  open();
  return {
    send,
    close() {
      ended = true;
      if (ws) ws.close();
    },
    /** For tests and the reconnect path: drop the socket as a network failure would. */
    drop() {
      if (ws) ws.close(4999, "dropped");
    },
  };
}
