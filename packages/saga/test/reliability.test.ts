/**
 * The reliability scenario (`reliability.ts`) with the memory store: one
 * `SagaMemory` shared by the three runners, appending its outgoing messages
 * on the test's own NATS connection; a held attempt sleeps 1.5 s before its
 * commit.
 */
import { IdGenerator } from "@herald/identity"
import { NatsServer } from "@herald/testing"
import { NatsTransport } from "@herald/transport-nats"
import { layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { SagaMemory } from "../src/index.ts"
import { scenario, title } from "./reliability.ts"

const Suite = Layer.unwrap(
  NatsServer.NatsServer.useSync((server) => NatsTransport.layer({ servers: server.url, name: "saga-reliability-memory" }))
).pipe(Layer.provideMerge(NatsServer.layer()), Layer.merge(IdGenerator.layer))

layer(Suite, { excludeTestServices: true, timeout: "60 seconds" })("saga reliability (nats-server, memory store)", (it) => {
  it.effect(title, () =>
    Effect.gen(function*() {
      const store = yield* SagaMemory.make
      yield* scenario({
        label: "memory",
        store,
        hold: (commit) => Effect.andThen(Effect.sleep("1500 millis"), commit),
        perRunner: () => Effect.void,
        unsent: Effect.succeed(0)
      })
    }), 60_000)
})
