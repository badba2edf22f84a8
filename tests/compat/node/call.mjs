// Calls one method of the official Postmark Node.js client, unmodified, and
// prints its result as JSON. Driven by tests/compat/conftest.py (node_client):
// stdin is {"client": "server"|"account", "token": "...", "method": "...",
// "args": [...]}; POSTMARK_TEST_HOST is "host:port" of the live test server.
// Only the request host differs from talking to Postmark itself.
import postmark from "postmark";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const call = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const options = { useHttps: false, requestHost: process.env.POSTMARK_TEST_HOST };
const client =
  call.client === "account"
    ? new postmark.AccountClient(call.token, options)
    : new postmark.ServerClient(call.token, options);

try {
  const result = await client[call.method](...(call.args || []));
  process.stdout.write(JSON.stringify({ ok: true, result }));
} catch (error) {
  process.stdout.write(
    JSON.stringify({
      ok: false,
      error: {
        name: error.name,
        message: error.message,
        code: error.code,
        statusCode: error.statusCode,
      },
    }),
  );
}
