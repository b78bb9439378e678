/**
 * The reliability scenario (`reliability.ts`) in the production
 * configuration: `SagaSql` on PostgreSQL (TestDatabase), its outgoing
 * messages written to the outbox table in each commit's transaction, and
 * every runner with an `OutboxRelay` of its own on the runner's own NATS
 * connection (lease 3 s: the killed runner's claimed messages are taken
 * over by the others). A held attempt keeps its transaction open 1.5 s after
 * its writes, so the redelivery's commit waits on its rows and then finds
 * the trigger processed.
 */
import { IdGenerator } from "@herald/identity"
import { Outbox, OutboxMigrations, OutboxRelay, OutboxSql, OutboxStore } from "@herald/outbox"
import { NatsServer } from "@herald/testing"
import { TestDatabase } from "@herald/testing/pg"
import { EventLog } from "@herald/transport"
import { NatsTransport } from "@herald/transport-nats"
import { assert, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { SagaError, SagaSql } from "../src/index.ts"
import { scenario, title } from "./reliability.ts"

const Suite = Layer.unwrap(
  NatsServer.NatsServer.useSync((server) => NatsTransport.layer({ servers: server.url, name: "saga-reliability-pg" }))
).pipe(
  Layer.provideMerge(NatsServer.layer()),
  Layer.merge(IdGenerator.layer),
  Layer.merge(TestDatabase.layerPg({ maxConnections: 40 }))
)

layer(Suite, { excludeTestServices: true, timeout: "60 seconds" })("saga reliability (nats-server, PostgreSQL store)", (it) => {
  it.effect(title, () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const table = "saga_reliability_outbox"
      const outbox = yield* Layer.build(
        Outbox.layer.pipe(Layer.provideMerge(OutboxSql.layer({ table })), Layer.provide(OutboxMigrations.layer({ table })))
      )
      const store = yield* SagaSql.make({ prefix: "saga_reliability" }).pipe(Effect.provideContext(outbox))
      const { outgoing } = yield* scenario({
        label: "PostgreSQL",
        store,
        hold: (commit) =>
          sql.withTransaction(Effect.tap(commit, () => Effect.sleep("1500 millis"))).pipe(
            Effect.catchTag("SqlError", (e) => Effect.fail(SagaError.store("held commit", e)))
          ),
        perRunner: (nats) =>
          OutboxRelay.make({
            lease: "3 seconds",
            pollInterval: "200 millis",
            retryBase: "100 millis",
            retryMax: "1 second"
          }).pipe(
            Effect.provideService(OutboxStore.OutboxStore, Context.get(outbox, OutboxStore.OutboxStore)),
            Effect.provideService(EventLog.EventLog, Context.get(nats, EventLog.EventLog)),
            Effect.asVoid
          ),
        unsent: Effect.map(Outbox.status, (s) => s.pending + s.parked).pipe(Effect.provideContext(outbox))
      })
      const status = yield* Outbox.status.pipe(Effect.provideContext(outbox))
      assert.deepStrictEqual([status.pending, status.leased, status.parked, status.sent], [0, 0, 0, outgoing])
    }), 60_000)
})
