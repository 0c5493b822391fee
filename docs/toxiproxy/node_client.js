// toxiproxy-node-client (from npm) against a running `shaper toxiproxy`: the calls a
// Node suite makes, and what its traffic sees. By hand (needs node 18+ and npm):
//
//   shaper toxiproxy -port 8474 --control 127.0.0.1:0 &
//   cd docs/toxiproxy && npm install --no-save toxiproxy-node-client@4.1.0
//   node node_client.js http://127.0.0.1:8474
//
// Exits 0 when every check passed, 1 at the first that did not.
"use strict";
const net = require("net");
const assert = require("assert");
const { default: Toxiproxy } = require("toxiproxy-node-client/dist/Toxiproxy");

const API = process.argv[2] || "http://127.0.0.1:8474";

function echoServer() {
  return new Promise((resolve) => {
    const server = net.createServer((sock) => sock.pipe(sock));
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

function roundtrip(listen, payload) {
  const [host, port] = [listen.slice(0, listen.lastIndexOf(":")), listen.slice(listen.lastIndexOf(":") + 1)];
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const sock = net.connect(Number(port), host, () => sock.write(payload));
    let got = "";
    sock.setTimeout(10000, () => reject(new Error("timed out")));
    sock.on("data", (data) => {
      got += data;
      if (got.length >= payload.length) {
        sock.end();
        resolve([got, Number(process.hrtime.bigint() - start) / 1e9]);
      }
    });
    sock.on("error", reject);
  });
}

async function main() {
  const upstream = await echoServer();
  const target = `127.0.0.1:${upstream.address().port}`;
  const toxiproxy = new Toxiproxy(API);
  const checks = [];
  const check = (what, fn) => checks.push([what, fn]);
  let proxy;

  check("getVersion answers a semantic version of at least 2.6", async () => {
    const { version } = JSON.parse(await toxiproxy.getVersion());
    const [major, minor] = version.split(".").map(Number);
    assert.ok(major > 2 || (major === 2 && minor >= 6), version);
  });
  check("createProxy with port 0 answers the real port; a name with a colon", async () => {
    proxy = await toxiproxy.createProxy({ name: "node:1", listen: "127.0.0.1:0", upstream: target });
    assert.ok(Number(proxy.listen.split(":").pop()) > 0, proxy.listen);
    const [got] = await roundtrip(proxy.listen, "hello");
    assert.strictEqual(got, "hello");
  });
  check("getAll and get", async () => {
    const all = await toxiproxy.getAll();
    assert.deepStrictEqual(Object.keys(all), ["node:1"]);
    assert.strictEqual((await toxiproxy.get("node:1")).upstream, target);
  });
  check("a duplicate is refused (409)", async () => {
    await assert.rejects(toxiproxy.createProxy({ name: "node:1", upstream: target }), /409/);
  });
  check("addToxic latency downstream delays the answer; update; remove", async () => {
    const toxic = await proxy.addToxic({ type: "latency", stream: "downstream", toxicity: 1, attributes: { latency: 300 } });
    assert.strictEqual(toxic.name, "latency_downstream");
    assert.deepStrictEqual(toxic.attributes, { latency: 300, jitter: 0 });
    let [, took] = await roundtrip(proxy.listen, "slow");
    assert.ok(took >= 0.28, took);
    const changed = await toxic.update({ attributes: { latency: 600 } });
    assert.deepStrictEqual(changed.attributes, { latency: 600, jitter: 0 });
    [, took] = await roundtrip(proxy.listen, "slower");
    assert.ok(took >= 0.58, took);
    assert.strictEqual((await proxy.getToxic("latency_downstream")).attributes.latency, 600);
    await changed.remove();
    [, took] = await roundtrip(proxy.listen, "fast");
    assert.ok(took < 0.25, took);
  });
  check("an unknown toxic type is refused (400)", async () => {
    await assert.rejects(proxy.addToxic({ type: "nope", attributes: {} }), /400/);
  });
  check("update disables and enables", async () => {
    const off = await proxy.update({ enabled: false });
    assert.strictEqual(off.enabled, false);
    await assert.rejects(roundtrip(proxy.listen, "x"), /ECONNREFUSED/);
    const on = await proxy.update({ enabled: true });
    assert.strictEqual(on.enabled, true);
    assert.strictEqual(on.listen, proxy.listen);
    await roundtrip(proxy.listen, "back");
  });
  check("populate and reset", async () => {
    const made = await toxiproxy.populate([{ name: "node:2", listen: "127.0.0.1:0", upstream: target }]);
    assert.deepStrictEqual(Object.keys(made), ["node:2"]);
    await made["node:2"].addToxic({ type: "timeout", stream: "upstream", toxicity: 1, attributes: { timeout: 0 } });
    await made["node:2"].update({ enabled: false });
    await toxiproxy.reset();
    const after = await toxiproxy.get("node:2");
    assert.strictEqual(after.enabled, true);
    const [got] = await roundtrip(after.listen, "reset");
    assert.strictEqual(got, "reset");
  });
  check("remove", async () => {
    for (const p of Object.values(await toxiproxy.getAll())) await p.remove();
    assert.deepStrictEqual(await toxiproxy.getAll(), {});
    await assert.rejects(toxiproxy.get("node:1"), /404/);
  });

  let failed = false;
  for (const [what, fn] of checks) {
    try {
      await fn();
      console.log(`ok    ${what}`);
    } catch (e) {
      console.log(`FAIL  ${what}: ${e.message}`);
      failed = true;
      break;
    }
  }
  upstream.close();
  process.exit(failed ? 1 : 0);
}

main();
