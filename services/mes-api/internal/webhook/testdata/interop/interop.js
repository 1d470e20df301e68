// Runs the Standard Webhooks reference library (npm "standardwebhooks")
// for webhook_test.go's interop test: one JSON request on stdin, the answer
// on stdout.
const { Webhook } = require("standardwebhooks");
let input = "";
process.stdin.on("data", (c) => (input += c));
process.stdin.on("end", () => {
  const q = JSON.parse(input);
  const wh = new Webhook(q.secret);
  try {
    if (q.mode === "sign") {
      const sig = wh.sign(q.id, new Date(q.timestamp * 1000), q.payload);
      process.stdout.write(JSON.stringify({ signature: sig }));
    } else {
      wh.verify(q.payload, { "webhook-id": q.id, "webhook-timestamp": String(q.timestamp), "webhook-signature": q.signature });
      process.stdout.write(JSON.stringify({ ok: true }));
    }
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, error: String(e.message || e) }));
  }
});
