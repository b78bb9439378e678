/**
 * Traces on a real nats-server (one per file), and a message from a plain
 * nats.js client, which carries no `traceparent`, starting a new trace.
 */
import { assert, layer } from "@effect/vitest"
import { NatsServer, Wait } from "@herald/testing"
import { EventLog, Topology } from "@herald/transport"
import { NatsTransport } from "@herald/transport-nats"
import { connect } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Semconv, Tracing } from "../src/index.ts"
import { exporter, parentId, suite } from "./tracingSuite.ts"

const Nats = Layer.unwrap(
  NatsServer.NatsServer.useSync((server) => NatsTransport.layer({ servers: server.url, name: "tracing-test" }))
).pipe(Layer.provideMerge(NatsServer.layer()))

let counter = 0
const unique = () => {
  const n = ++counter
  return { prefix: `tn${n}`, stream: `TN${n}` }
}

layer(Nats, { excludeTestServices: true, timeout: "60 seconds" })("Tracing (nats-server)", (it) => {
  suite(it, unique)

  it.effect("a plain nats.js publish, consumed with foreign: a process span that is a root", () => {
    const ex = exporter()
    const { prefix, stream } = unique()
    return Effect.gen(function*() {
      const topology = yield* Topology.Topology
      yield* topology.ensureStream({ name: stream, subjects: [`${prefix}.>`] })
      yield* topology.ensureConsumer({ stream, name: "worker" })
      const nc = yield* Effect.acquireRelease(
        Effect.flatMap(NatsServer.NatsServer, (server) => Effect.promise(() => connect({ servers: server.url }))),
        (nc) => Effect.promise(() => nc.close())
      )
      yield* Effect.promise(async () => {
        nc.publish(`${prefix}.orders.o-1`, new TextEncoder().encode(JSON.stringify({ n: 1 })))
        await nc.flush()
      })
      const log = yield* EventLog.EventLog
      yield* log.consume(stream, "worker", () => Effect.void, { foreign: {} }).pipe(Effect.withSpan("consumer setup"))
      yield* Wait.until(ex.count(`process ${stream}`), (n) => n === 1, "processed")

      const process = ex.one(`process ${stream}`)
      assert.strictEqual(parentId(process), undefined)
      assert.notStrictEqual(process.traceId, ex.one("consumer setup").traceId)
      assert.strictEqual(process.attributes.get(Semconv.Attributes.messageId), `${stream}:1`)
      assert.strictEqual(process.attributes.get(Semconv.Attributes.deliveryCount), 1)
    }).pipe(Effect.provide(Tracing.layer()), Effect.scoped, Effect.withTracer(ex.tracer))
  })
})
