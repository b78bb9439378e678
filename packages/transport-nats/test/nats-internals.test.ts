/**
 * The nats.js 3.4 internals Herald reads or writes for speed, checked against
 * the installed nats.js and a real nats-server: this suite fails the day one
 * of them changes, before Herald silently falls back (or misbehaves).
 *
 * - `MsgHdrsImpl.headers`, the `Map<name, values[]>` behind `MsgHdrs`:
 *   `toHeaders` fills it directly on publish, `header` reads it on receive
 *   (`src/internal/bus/wire.ts`).
 * - `_rdata` and `_msg.hdr` of a received message (its bytes, the header
 *   block's length), and `smr.message.hdrs` (base64) of a message got by
 *   sequence: read to keep headers nats.js's parser refuses
 *   (`src/internal/eventlog/message.ts`).
 */
import { NatsServer } from "@herald/testing"
import { assert, layer } from "@effect/vitest"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { headers as natsHeaders, MsgHdrsImpl } from "@nats-io/nats-core"
import { connect, type Msg } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import { header, toHeaders } from "../src/internal/bus/wire.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const record = {
  "Nats-Msg-Id": "0190b2c8-6f1e-7000-8000-000000000001",
  "Herald-Type": "OrderPlaced",
  "Content-Type": "application/json"
}

layer(NatsServer.layer(), { excludeTestServices: true, timeout: "60 seconds" })("nats.js internals", (it) => {
  it("MsgHdrsImpl keeps its headers in a Map of value arrays, as toHeaders writes and header reads them", () => {
    const built = natsHeaders()
    for (const [name, value] of Object.entries(record)) built.append(name, value)
    assert.instanceOf(built, MsgHdrsImpl)
    const map = (built as MsgHdrsImpl).headers
    assert.instanceOf(map, Map)
    assert.deepStrictEqual([...map.entries()], Object.entries(record).map(([n, v]) => [n, [v]]))
    const ours = toHeaders({ headers: record, body: new Uint8Array() }) as MsgHdrsImpl
    // The header block nats.js writes from the Map toHeaders filled is the one `append` gives.
    assert.strictEqual(decoder.decode(ours.encode()), decoder.decode((built as MsgHdrsImpl).encode()))
    const parsed = MsgHdrsImpl.decode(built.encode())
    assert.deepStrictEqual([...parsed.headers.keys()], Object.keys(record))
    assert.strictEqual(header(parsed, "Herald-Type"), "OrderPlaced")
    assert.strictEqual(header(parsed, "herald-type"), "OrderPlaced")
  })

  it.effect("a received message keeps its bytes in _rdata and its header block's length in _msg.hdr", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      const nc = yield* Effect.acquireRelease(
        Effect.promise(() => connect({ servers: server.url })),
        (nc) => Effect.promise(() => nc.close())
      )
      const h = natsHeaders()
      for (const [name, value] of Object.entries(record)) h.append(name, value)
      const block = (h as MsgHdrsImpl).encode()
      const body = encoder.encode("{\"orderId\":\"o-1\"}")
      const received = yield* Effect.promise(() =>
        new Promise<Msg>((resolve) => {
          nc.subscribe("internals.core", { max: 1, callback: (_, m) => resolve(m) })
          nc.flush().then(() => nc.publish("internals.core", body, { headers: h }))
        })
      )
      const internals = received as unknown as { _rdata?: unknown; _msg?: { hdr?: unknown } }
      assert.instanceOf(internals._rdata, Uint8Array)
      assert.strictEqual(internals._msg?.hdr, block.length)
      const data = internals._rdata as Uint8Array
      assert.strictEqual(decoder.decode(data.subarray(0, block.length)), decoder.decode(block))
      assert.strictEqual(decoder.decode(data.subarray(block.length)), decoder.decode(body))
      assert.instanceOf(received.headers, MsgHdrsImpl)

      const jsm = yield* Effect.promise(() => jetstreamManager(nc))
      yield* Effect.promise(() => jsm.streams.add({ name: "INTERNALS", subjects: ["internals.js"] }))
      const ack = yield* Effect.promise(() => jetstream(nc).publish("internals.js", body, { headers: h }))
      const stored = yield* Effect.promise(() => jsm.streams.getMessage("INTERNALS", { seq: ack.seq }))
      const hdrs = (stored as unknown as { smr?: { message?: { hdrs?: unknown } } }).smr?.message?.hdrs
      assert.strictEqual(typeof hdrs, "string")
      assert.strictEqual(Buffer.from(hdrs as string, "base64").toString("utf8"), decoder.decode(block))
    }))
})
