// Reads one JSON request per line on stdin:
//   {"secrets": ["whsec_…"], "headers": {"webhook-id": …}, "body": "<base64>"}
// and answers one JSON line per request on stdout: {"ok": true}, or {"ok": false,
// "error": "…"} naming every secret that did not verify. A message verifies when it
// verifies with each of the given secrets (all of them must have signed it). It uses
// npm's standardwebhooks, not Leadline's code, and its timestamp tolerance (5 minutes).
"use strict";
const readline = require("node:readline");
const { Webhook } = require("standardwebhooks");

const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on("line", (line) => {
  let answer;
  try {
    const req = JSON.parse(line);
    const body = Buffer.from(req.body, "base64");
    const errors = [];
    for (const secret of req.secrets) {
      try {
        new Webhook(secret).verify(body, req.headers, { jsonParse: false });
      } catch (e) {
        errors.push(`${secret.slice(0, 10)}…: ${e.message}`);
      }
    }
    answer = errors.length === 0 ? { ok: true } : { ok: false, error: errors.join("; ") };
  } catch (e) {
    answer = { ok: false, error: `verifier: ${e.message}` };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
