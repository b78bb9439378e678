/**
 * The transport conformance suite against a real nats-server: one server for
 * the file, a fresh connection and transport for each test, real time.
 */
import { NatsServer } from "@herald/testing"
import { Conformance } from "@herald/testing/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { NatsTransport } from "@herald/transport-nats"

const transport = Layer.unwrap(
  Effect.map(NatsServer.NatsServer, (server) =>
    NatsTransport.layer({ servers: server.url, name: "conformance" }))
)

Conformance.suite("NATS transport (nats-server 2.9)", {
  shared: NatsServer.layer(),
  layer: transport,
  clock: "live",
  timeout: 60_000
})
