/**
 * The store contract on `SagaMemory`, over the in-memory EventLog: outgoing
 * messages reach the EventLog when the store is flushed.
 */
import { MemoryTransport } from "@herald/testing"
import { Topology, Wire } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { SagaMemory } from "../src/index.ts"
import { Observed, storeSuite } from "./storeSuite.ts"

const stream = "SAGA_OUT"

const observed = Layer.effect(
  Observed,
  Effect.gen(function*() {
    const transport = yield* MemoryTransport.MemoryTransport
    yield* Topology.Topology.use((topology) => topology.ensureStream({ name: stream, subjects: ["out.>"] }))
    return Observed.of({
      sent: Effect.map(transport.streamMessages(stream), (messages) =>
        messages.map((m) => ({
          subject: m.subject,
          messageId: Wire.header(m.raw, Wire.HeaderNames.natsMsgId),
          partitionKey: undefined
        })))
    })
  })
)

storeSuite("SagaStore contract: SagaMemory", {
  shared: Layer.empty,
  fresh: () => Layer.mergeAll(SagaMemory.layer, observed).pipe(Layer.provide(MemoryTransport.layer)),
  kind: "memory",
  flushAppends: true,
  partitionKey: () => undefined
})
