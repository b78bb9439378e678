/**
 * Replays on a real nats-server (one per file), through `@herald/transport-nats`.
 */
import { describe, layer } from "@effect/vitest"
import { NatsServer } from "@herald/testing"
import { NatsTransport } from "@herald/transport-nats"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { replaySuite } from "./replaySuite.ts"

const Nats = Layer.unwrap(
  Effect.map(Effect.service(NatsServer.NatsServer), (server) => NatsTransport.layer({ servers: server.url, name: "replay-test" }))
).pipe(Layer.provideMerge(NatsServer.layer()))

describe("Replay on nats-server", () => {
  layer(Nats, { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    replaySuite({
      tick: Effect.sleep("2 millis"),
      test: (name, body) => it.effect(name, () => Effect.scoped(body()))
    })
  })
})
