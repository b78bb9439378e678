import { describe, layer } from "@effect/vitest"
import { IdGenerator } from "@herald/identity"
import { NatsServer } from "@herald/testing"
import { TestDatabase } from "@herald/testing/pg"
import { NatsTransport } from "@herald/transport-nats"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { provide, verify } from "./Scenario.ts"

const transport = Layer.unwrap(
  Effect.map(NatsServer.NatsServer, (server) => NatsTransport.layer({ servers: server.url, name: "orders-test" }))
)

describe("orders on nats-server and PostgreSQL", () => {
  layer(Layer.mergeAll(NatsServer.layer(), TestDatabase.layerPg({ prefix: "orders" })), {
    excludeTestServices: true,
    timeout: "60 seconds"
  })((it) => {
    it.effect("five orders: two shipped, three cancelled, one of them compensated; every effect once", () =>
      verify.pipe(Effect.provide(provide(Layer.mergeAll(transport, IdGenerator.layer)))), 90_000)
  })
})
