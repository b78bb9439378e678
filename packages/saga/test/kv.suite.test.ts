/**
 * The store contract on `SagaKv`, on a real nats-server: outgoing messages
 * reach the stream when the store is flushed.
 */
import { NatsServer } from "@herald/testing"
import { EventLog, Topology, Wire } from "@herald/transport"
import { NatsTransport } from "@herald/transport-nats"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { SagaKv } from "../src/kv.ts"
import { Observed, storeSuite } from "./storeSuite.ts"

const stream = "SAGA_OUT"

const Nats = Layer.unwrap(
  NatsServer.NatsServer.useSync((server) => NatsTransport.layer({ servers: server.url, name: "saga-kv-suite" }))
).pipe(Layer.provideMerge(NatsServer.layer()))

/** A new, empty stream for `out.>` (tests of the suite run one after another). */
const observed = Layer.effect(
  Observed,
  Effect.gen(function*() {
    const topology = yield* Topology.Topology
    const streams = yield* topology.listStreams
    if (streams.some((s) => s.name === stream)) yield* topology.deleteStream(stream)
    yield* topology.ensureStream({ name: stream, subjects: ["out.>"] })
    const log = yield* EventLog.EventLog
    return Observed.of({
      sent: Effect.map(Stream.runCollect(log.readRaw(stream)), (messages) =>
        Array.from(messages, (m) => ({
          subject: m.subject,
          messageId: Wire.header(m.raw, Wire.HeaderNames.natsMsgId),
          partitionKey: undefined
        })))
    })
  })
)

let buckets = 0

storeSuite("SagaStore contract: SagaKv", {
  shared: Nats,
  fresh: () => Layer.mergeAll(SagaKv.layer({ bucket: `saga_suite_${++buckets}` }), observed),
  kind: "kv",
  flushAppends: true,
  partitionKey: () => undefined
})
