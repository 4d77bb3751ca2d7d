/**
 * Tandem's embeddable snippet, served as BASE/tandem.js for site owners:
 *
 *   <script>window.Tandem=window.Tandem||function(){(Tandem.q=Tandem.q||[]).push(arguments)};</script>
 *   <script async src="https://cobrowse.example.com/tandem.js"></script>
 *   Tandem('startSession', {name: 'Ada'}, function (r) { ... });   // r.error on failure
 *   Tandem('getWatchLink', function (r) { r.url });
 *   Tandem('getPin', function (r) { r.pin });
 *   Tandem('endSession');
 *   Tandem('on', 'viewer_joined', function (e) { ... });   // session_started, viewer_joined, control_changed, session_ended
 *
 * The visitor's id and secret live in a first-party cookie on the site (`tandem_visitor`),
 * so startSession carries them into the session jar with the page's other non-HttpOnly
 * cookies, and the snippet on the proxied copy of the page (LABEL.BASE) finds them again.
 * Every call to Tandem sends the secret in a header, never relying on cookies
 * (credentials: "omit").
 */

import { createClient } from "./client.js";

const script = document.currentScript;
const base = script && script.src ? new URL(script.src).origin : location.origin;
const client = createClient(window, base);
const queued = (window.Tandem && window.Tandem.q) || [];
window.Tandem = client.command;
for (const args of queued) client.command(...args);
client.resume();
