/**
 * Projections on a real nats-server (one per file, through
 * `@herald/transport-nats`), with PostgreSQL and with SQLite checkpoints.
 */
import { layer } from "@effect/vitest"
import { SqliteClient } from "@herald/sql-sqlite"
import { NatsServer } from "@herald/testing"
import { TestDatabase } from "@herald/testing/pg"
import { NatsTransport } from "@herald/transport-nats"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { projectionSuite } from "./projectionSuite.ts"
import { sqlHarness } from "./sqlHarness.ts"

const Nats = Layer.unwrap(
  Effect.map(
    Effect.service(NatsServer.NatsServer),
    (server) => NatsTransport.layer({ servers: server.url, name: "projection-test" })
  )
).pipe(Layer.provideMerge(NatsServer.layer()))

layer(Layer.merge(Nats, TestDatabase.layerPg()), { excludeTestServices: true, timeout: "60 seconds" })(
  "Projections on nats-server",
  (it) => {
    projectionSuite(sqlHarness("pg", (name, self) => it.effect(name, self)))
    projectionSuite(
      sqlHarness("sqlite", (name, self) =>
        it.effect(name, () => self().pipe(Effect.provide(SqliteClient.layer({ filename: ":memory:" }))))
      )
    )
  }
)
