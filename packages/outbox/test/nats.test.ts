/**
 * The outbox end to end: PostgreSQL (TestDatabase) and a real nats-server
 * (NatsServer, JetStream on, one per file) through `@herald/transport-nats`.
 * Exactly-once downstream, per-key order read back from the stream, a relay
 * killed between append and mark-sent, and the limit of the duplicate window.
 */
import { assert, describe, layer } from "@effect/vitest"
import { NatsServer, Wait } from "@herald/testing"
import { TestDatabase } from "@herald/testing/pg"
import { EventLog } from "@herald/transport"
import { NatsTransport } from "@herald/transport-nats"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { Outbox, OutboxMigrations, OutboxRelay, OutboxSql } from "../src/index.ts"
import { AppendLog, bodies, counting, ensureStream, envelope, inOrderPerKey, streamMessages } from "./helpers.ts"

const Nats = Layer.unwrap(
  Effect.map(Effect.service(NatsServer.NatsServer), (server) =>
    NatsTransport.layer({ servers: server.url, name: "outbox-test" }))
).pipe(Layer.provideMerge(NatsServer.layer()))

let counter = 0
const unique = () => {
  const n = ++counter
  return { table: `outbox_nats_${n}`, stream: `OUTBOX${n}`, prefix: `outbox${n}` }
}

/** The outbox on a fresh table, and the suite's NATS EventLog wrapped to count appends. */
const env = (table: string) =>
  Layer.mergeAll(
    Outbox.layer.pipe(
      Layer.provideMerge(OutboxSql.layer({ table })),
      Layer.provide(OutboxMigrations.layer({ table }))
    ),
    counting(Layer.effect(EventLog.EventLog, Effect.service(EventLog.EventLog)))
  )

const transaction = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Effect.service(SqlClient.SqlClient), (sql) => sql.withTransaction(self))

describe("Outbox over nats-server and PostgreSQL", () => {
  layer(Layer.mergeAll(TestDatabase.layerPg(), Nats), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("every committed message is in the stream exactly once; rolled-back ones never", () => {
      const { prefix, stream, table } = unique()
      return Effect.gen(function*() {
        yield* ensureStream(stream, [`${prefix}.>`])
        const relay = Context.get(
          yield* Layer.build(OutboxRelay.layer({ relays: 2, batchSize: 100 })),
          OutboxRelay.OutboxRelay
        )
        let committed = 0
        for (let t = 0; t < 50; t++) {
          const rollback = t % 5 === 4
          const exit = yield* Effect.exit(transaction(Effect.gen(function*() {
            yield* Outbox.publishAll(Array.from({ length: 10 }, (_, j) => ({
              subject: `${prefix}.placed`,
              envelope: envelope(t * 10 + j + 1)
            })))
            if (rollback) return yield* Effect.fail("rolled back")
          })))
          if (Exit.isSuccess(exit)) committed += 10
        }
        assert.strictEqual(committed, 400)
        yield* Wait.until(Outbox.status, (s) => s.pending === 0 && s.sent === 400, "all sent")
        const info = yield* EventLog.EventLog.use((log) => log.info(stream))
        assert.strictEqual(info.messages, 400)
        const messages = yield* streamMessages(stream)
        assert.strictEqual(new Set(messages.map((m) => m.raw.headers["Nats-Msg-Id"])).size, 400)
        const log = yield* AppendLog
        assert.strictEqual(log.calls.filter((c) => c.outcome === "stored").length, 400)
        assert.strictEqual(log.calls.length, 400)
        const stats = yield* relay.stats
        assert.strictEqual(stats.published, 400)
        assert.strictEqual(stats.duplicates, 0)
      }).pipe(Effect.provide(env(table)))
    })

    it.effect("two relays on one table keep per-key order in the stream, and append nothing twice", () => {
      const { prefix, stream, table } = unique()
      return Effect.gen(function*() {
        yield* ensureStream(stream, [`${prefix}.>`])
        yield* Layer.build(OutboxRelay.layer({ relays: 2, batchSize: 40, pollInterval: "20 millis", name: "a" }))
        yield* Layer.build(OutboxRelay.layer({ relays: 2, batchSize: 40, pollInterval: "20 millis", name: "b" }))
        // One writer, transaction after transaction: each key's messages have a strict order.
        for (let t = 0; t < 60; t++) {
          yield* transaction(Outbox.publishAll(Array.from({ length: 10 }, (_, j) => {
            const n = t * 10 + j + 1
            const key = `k${(t + j) % 8}`
            return { subject: `${prefix}.${key}`, envelope: envelope(n, key), partitionKey: key }
          })))
        }
        yield* Wait.until(Outbox.status, (s) => s.pending === 0, "all sent")
        const payloads = bodies(yield* streamMessages(stream))
        assert.strictEqual(payloads.length, 600)
        assert.isTrue(inOrderPerKey(payloads), "per-key order in the stream")
        const log = yield* AppendLog
        assert.strictEqual(log.calls.filter((c) => c.outcome === "stored").length, 600)
        assert.strictEqual(log.calls.length, 600, "no message was appended twice")
      }).pipe(Effect.provide(env(table)))
    })

    it.effect("a relay killed between append and mark-sent: the restarted relay's append is a duplicate", () => {
      const { prefix, stream, table } = unique()
      return Effect.gen(function*() {
        yield* ensureStream(stream, [`${prefix}.>`])
        let crashes = 0
        yield* Effect.scoped(Effect.gen(function*() {
          yield* Layer.build(OutboxRelay.layer({
            lease: "300 millis",
            pollInterval: "20 millis",
            beforeMarkSent: () =>
              Effect.suspend(() => {
                crashes++
                return Effect.interrupt // appended, never marked sent
              })
          }))
          yield* transaction(Outbox.publish(`${prefix}.placed`, envelope(1)))
          yield* Wait.until(Effect.sync(() => crashes), (n) => n === 1, "crash")
        }))
        assert.strictEqual((yield* EventLog.EventLog.use((log) => log.info(stream))).messages, 1)
        assert.strictEqual((yield* Outbox.status).pending, 1)
        const restarted = Context.get(
          yield* Layer.build(OutboxRelay.layer({ pollInterval: "20 millis" })),
          OutboxRelay.OutboxRelay
        )
        const stats = yield* Wait.until(restarted.stats, (s) => s.published === 1, "republished")
        assert.strictEqual(stats.duplicates, 1)
        assert.strictEqual((yield* EventLog.EventLog.use((log) => log.info(stream))).messages, 1)
        const log = yield* AppendLog
        assert.deepStrictEqual(log.calls.map((c) => c.outcome), ["stored", "duplicate"])
        assert.strictEqual((yield* Outbox.status).sent, 1)
      }).pipe(Effect.provide(env(table)))
    })

    it.effect("the limit: a re-append after the stream's duplicate window stores a second copy", () => {
      const { prefix, stream, table } = unique()
      return Effect.gen(function*() {
        yield* ensureStream(stream, [`${prefix}.>`], "500 millis")
        yield* Outbox.publish(`${prefix}.placed`, envelope(1))
        const crashed = yield* Effect.exit(OutboxRelay.drain({ beforeMarkSent: () => Effect.die("crash") }))
        assert.isTrue(Exit.isFailure(crashed))
        yield* Effect.sleep("1 second") // past the duplicate window
        const again = yield* OutboxRelay.drain()
        assert.strictEqual(again.published, 1)
        assert.strictEqual(again.duplicates, 0)
        const messages = yield* streamMessages(stream)
        assert.strictEqual(messages.length, 2)
        assert.strictEqual(messages[0]!.raw.headers["Nats-Msg-Id"], messages[1]!.raw.headers["Nats-Msg-Id"])
      }).pipe(Effect.provide(env(table)))
    })
  })
})
