/**
 * The outbox on PostgreSQL (`@effect/sql-pg`, one database per suite from
 * `TestDatabase`): the shared suite (a table per test), migrations, a
 * business table in the same transaction, `FOR UPDATE SKIP LOCKED` claims,
 * several relays on one table keeping per-key order, LISTEN/NOTIFY wake-ups,
 * lease expiry after a relay crash.
 */
import { assert, describe, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { MemoryTransport, Wait } from "@herald/testing"
import { TestDatabase } from "@herald/testing/pg"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import * as TestClock from "effect/testing/TestClock"
import { Outbox, OutboxError, OutboxMigrations, OutboxRelay, OutboxSql, OutboxStore } from "../src/index.ts"
import {
  AppendLog,
  bodies,
  counting,
  ensureStream,
  envelope,
  inOrderPerKey,
  streamMessages
} from "./helpers.ts"
import { suite } from "./suite.ts"

let tables = 0
const uniqueTable = () => `outbox_${++tables}`

const outboxOn = (options: OutboxSql.Options) =>
  Outbox.layer.pipe(
    Layer.provideMerge(OutboxSql.layer(options)),
    Layer.provide(OutboxMigrations.layer(options))
  )

const env = (options: OutboxSql.Options = { table: uniqueTable() }) =>
  Layer.mergeAll(outboxOn(options), counting(MemoryTransport.layer))

const transaction = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Effect.service(SqlClient.SqlClient), (sql) => sql.withTransaction(self))

/** A second client on the suite's database: another process, as far as LISTEN/NOTIFY can tell. */
/** How many backends LISTEN on `channel`: a relay has registered its wake-up. */
const listenersOn = (channel: string) =>
  Effect.flatMap(Effect.service(SqlClient.SqlClient), (sql) =>
    Effect.map(
      sql<{ readonly query: string }>`SELECT query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      (rows) => rows.filter((r) => new RegExp(`^\\s*LISTEN\\s+"?${channel}"?\\s*;?\\s*$`, "i").test(r.query)).length
    ))

const otherClient = Layer.unwrap(Effect.map(Effect.service(PgClient.PgClient), (pg) => PgClient.layer(pg.config)))

describe("Outbox on PostgreSQL", () => {
  layer(TestDatabase.layerPg(), { excludeTestServices: true })((it) => {
    suite({
      env: () => env(),
      transaction,
      effect: (name, f) => it.effect(name, () => Effect.provide(f(), TestClock.layer())),
      live: (name, f) => it.effect(name, f)
    })

    it.effect("a dropped outbox table is the store's fault: a retryable StorageError naming 42P01; once migrated again, the relay publishes", () =>
      Effect.gen(function*() {
        const table = uniqueTable()
        const sql = yield* SqlClient.SqlClient
        yield* Effect.gen(function*() {
          yield* ensureStream("ORDERS", ["orders.>"])
          yield* Outbox.publish("orders.placed", envelope(1))
          yield* sql.unsafe(`DROP TABLE ${table}`)
          const publish = yield* Effect.flip(Outbox.publish("orders.placed", envelope(2)))
          const drain = yield* Effect.flip(OutboxRelay.drain())
          for (const error of [publish, drain]) {
            assert.strictEqual(error.reason._tag, "StorageError")
            const reason = error.reason as OutboxError.StorageError
            assert.strictEqual(reason.code, "42P01")
            assert.isTrue(reason.retryable)
            assert.isTrue(error.isRetryable)
            assert.include(error.message, "42P01")
            assert.include(error.message, table)
          }
          // The DDL again (the migrations table still says it ran).
          yield* OutboxMigrations.migration({ table })
          yield* Outbox.publish("orders.placed", envelope(3))
          assert.strictEqual((yield* OutboxRelay.drain()).published, 1)
          assert.deepStrictEqual(bodies(yield* streamMessages("ORDERS")).map((p) => p.n), [3])
        }).pipe(Effect.provide(env({ table })))
      }))

    it.effect("migrations run once, are idempotent, and honour schema-qualified names", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE SCHEMA app`
        assert.deepStrictEqual(yield* OutboxMigrations.migrate({ table: "app.outbox" }), [[1, "create_outbox"]])
        assert.deepStrictEqual(yield* OutboxMigrations.migrate({ table: "app.outbox" }), [])
        yield* OutboxMigrations.migration({ table: "app.outbox" })
        const indexes = yield* sql<{ readonly indexname: string }>`
          SELECT indexname FROM pg_indexes WHERE schemaname = 'app' AND tablename = 'outbox' ORDER BY indexname`
        assert.deepStrictEqual(indexes.map((i) => i.indexname), [
          "outbox_blocked_idx",
          "outbox_key_idx",
          "outbox_pending_idx",
          "outbox_pkey",
          "outbox_sent_idx"
        ])
        const migrations = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM app.outbox_migrations`
        assert.strictEqual(migrations[0]!.n, 1)
        // The store works on it (NOTIFY channel app_outbox).
        yield* Effect.gen(function*() {
          yield* ensureStream("ORDERS", ["orders.>"])
          yield* Outbox.publish("orders.placed", envelope(1))
          assert.strictEqual((yield* OutboxRelay.drain()).published, 1)
        }).pipe(Effect.provide(env({ table: "app.outbox" })))
      }))

    it.effect("a table named like the store's SQL words works; names starting with __ob_ are refused", () =>
      Effect.gen(function*() {
        for (const table of ["c", "heads", "o"]) {
          yield* Effect.gen(function*() {
            yield* ensureStream("ORDERS", ["orders.>"])
            yield* Outbox.publish("orders.k", envelope(1, "k"), { partitionKey: "k" })
            yield* Outbox.publish("orders.k", envelope(2, "k"), { partitionKey: "k" })
            assert.strictEqual((yield* OutboxRelay.drain()).published, 2)
          }).pipe(Effect.provide(env({ table })))
        }
        const reserved = yield* Effect.flip(OutboxSql.make({ table: "__ob_t" }))
        assert.strictEqual(reserved.reason._tag, "InvalidConfig")
      }))

    it.effect("the business change and the message commit together, or not at all", () =>
      Effect.gen(function*() {
        const table = uniqueTable()
        yield* Effect.gen(function*() {
          yield* ensureStream("ORDERS", ["orders.>"])
          const sql = yield* SqlClient.SqlClient
          yield* sql`CREATE TABLE ${sql(`${table}_orders`)} (id INTEGER PRIMARY KEY, total INTEGER NOT NULL)`
          const placeOrder = (n: number, fail: boolean) =>
            sql.withTransaction(Effect.gen(function*() {
              yield* sql`INSERT INTO ${sql(`${table}_orders`)} (id, total) VALUES (${n}, ${n * 10})`
              yield* Outbox.publish("orders.placed", envelope(n), { partitionKey: `order-${n}` })
              if (fail) return yield* Effect.fail("payment refused")
            }))
          for (let n = 1; n <= 30; n++) yield* Effect.exit(placeOrder(n, n % 3 === 0))
          const duplicate = yield* Effect.exit(placeOrder(1, false)) // violates the primary key
          assert.isTrue(Exit.isFailure(duplicate))
          const [orders] = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM ${sql(`${table}_orders`)}`
          const [outbox] = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM ${sql(table)}`
          assert.strictEqual(orders!.n, 20)
          assert.strictEqual(outbox!.n, 20)
          yield* OutboxRelay.drain()
          assert.strictEqual((yield* streamMessages("ORDERS")).length, 20)
          const log = yield* AppendLog
          assert.strictEqual(log.calls.length, 20)
        }).pipe(Effect.provide(env({ table })))
      }))

    it.effect("concurrent claims never hand out the same message, nor two runs of one key", () =>
      Effect.gen(function*() {
        yield* Outbox.publishAll(Array.from({ length: 300 }, (_, i) => ({
          subject: "orders.placed",
          envelope: envelope(i + 1),
          ...(i % 2 === 0 ? { partitionKey: `k${i % 10}` } : {})
        })))
        const store = yield* OutboxStore.OutboxStore
        const claims = yield* Effect.forEach(
          Array.from({ length: 8 }, (_, i) => `owner-${i}`),
          (owner) => Effect.map(store.claim({ owner, now: 1, leaseMillis: 60_000, limit: 40 }), (rows) => ({ owner, rows })),
          { concurrency: "unbounded" }
        )
        const ids = claims.flatMap((c) => c.rows.map((r) => r.id))
        assert.strictEqual(new Set(ids).size, ids.length)
        // Locked rows are skipped, not counted: together the claims get every unkeyed message, and
        // for each key the run one of them got from its first message (a later piece of a run taken
        // by another claim is given back).
        assert.isAtLeast(ids.length, 155)
        assert.isAtMost(ids.length, 300)
        assert.strictEqual(claims.flatMap((c) => c.rows).filter((r) => r.partitionKey === undefined).length, 150)
        for (const key of ["k0", "k2", "k4", "k6", "k8"]) {
          const rows = claims.flatMap((c) => c.rows).filter((r) => r.partitionKey === key).map((r) => r.id).sort((a, b) => a - b)
          assert.isAtLeast(rows.length, 1)
          // Each key's claimed messages are its oldest ones, without a gap.
          for (let i = 1; i < rows.length; i++) assert.isAbove(rows[i]!, rows[i - 1]!)
        }
        // What was given back (the later pieces) is claimable again, behind the runs now leased.
        assert.strictEqual((yield* store.claim({ owner: "late", now: 1, leaseMillis: 60_000, limit: 300 })).length, 0)
        const owners = new Map<string, string>()
        for (const c of claims) {
          for (const r of c.rows) {
            if (r.partitionKey === undefined) continue
            const other = owners.get(r.partitionKey)
            assert.isTrue(other === undefined || other === c.owner, `key ${r.partitionKey} claimed by two owners`)
            owners.set(r.partitionKey, c.owner)
          }
        }
      }).pipe(Effect.provide(env())))

    it.effect("a key written by concurrent transactions: claims follow commit visibility, one owner at a time", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const store = yield* OutboxStore.OutboxStore
        const inserted = yield* Deferred.make<void>()
        const gate = yield* Deferred.make<void>()
        // Writer 1 inserts message 1 of key k and keeps its transaction open.
        const writer = yield* Effect.forkChild(sql.withTransaction(Effect.gen(function*() {
          yield* Outbox.publish("orders.k", envelope(1, "k"), { partitionKey: "k" })
          yield* Deferred.succeed(inserted, undefined)
          yield* Deferred.await(gate)
        })))
        yield* Deferred.await(inserted)
        // Writer 2 commits messages 2 and 3 of key k meanwhile.
        yield* Outbox.publishAll([2, 3].map((n) => ({ subject: "orders.k", envelope: envelope(n, "k"), partitionKey: "k" })))
        const a = yield* store.claim({ owner: "a", now: 1, leaseMillis: 60_000, limit: 10 })
        assert.deepStrictEqual(a.map((m) => m.messageId), [2, 3].map((n) => envelope(n).identity.messageId))
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(writer)
        // Message 1 is now the oldest unsent message of k, but k is in flight (2 and 3 are leased):
        // nobody gets 1 until they are sent.
        assert.strictEqual((yield* store.claim({ owner: "b", now: 1, leaseMillis: 60_000, limit: 10 })).length, 0)
        yield* store.markSent(a.map((m) => m.id), 2)
        const b = yield* store.claim({ owner: "b", now: 2, leaseMillis: 60_000, limit: 10 })
        assert.deepStrictEqual(b.map((m) => m.messageId), [envelope(1).identity.messageId])
      }).pipe(Effect.provide(env())))

    it.effect("claims racing with writers and settles never hand out a message twice", () =>
      Effect.gen(function*() {
        const store = yield* OutboxStore.OutboxStore
        const claimedBy = new Map<number, number>()
        let writing = true
        const writers = Effect.forEach([0, 1, 2, 3], (w) =>
          Effect.forEach(Array.from({ length: 25 }, (_, t) => t), (t) =>
            transaction(Outbox.publishAll(Array.from({ length: 10 }, (_, j) => {
              const n = w * 1_000 + t * 10 + j + 1
              const key = `k${(w * 3 + j) % 12}`
              return { subject: `orders.${key}`, envelope: envelope(n, key), partitionKey: key }
            }))), { discard: true }), { concurrency: "unbounded", discard: true }).pipe(
            Effect.ensuring(Effect.sync(() => {
              writing = false
            }))
          )
        const relay = (owner: string) =>
          Effect.gen(function*() {
            let idle = 0
            while (writing || idle < 5) {
              const rows = yield* store.claim({ owner, now: 1, leaseMillis: 60_000, limit: 20 })
              for (const r of rows) claimedBy.set(r.id, (claimedBy.get(r.id) ?? 0) + 1)
              idle = rows.length === 0 ? idle + 1 : 0
              yield* Effect.sleep("2 millis") // "appending"
              yield* store.markSent(rows.map((r) => r.id), 2)
            }
          })
        yield* Effect.all([writers, relay("a"), relay("b"), relay("c"), relay("d")], { concurrency: "unbounded" })
        assert.strictEqual(claimedBy.size, 1_000)
        assert.deepStrictEqual([...claimedBy.values()].filter((n) => n > 1), [])
      }).pipe(Effect.provide(env())))

    it.effect("two relay layers on one table: every message once, per-key order kept", () =>
      Effect.gen(function*() {
        yield* ensureStream("ORDERS", ["orders.>"])
        const relayA = Context.get(
          yield* Layer.build(OutboxRelay.layer({ relays: 2, batchSize: 50, pollInterval: "20 millis", name: "a" })),
          OutboxRelay.OutboxRelay
        )
        const relayB = Context.get(
          yield* Layer.build(OutboxRelay.layer({ relays: 2, batchSize: 50, pollInterval: "20 millis", name: "b" })),
          OutboxRelay.OutboxRelay
        )
        const keys = 12
        // Four writers commit 25 transactions of 10 messages each while the relays run.
        yield* Effect.forEach([0, 1, 2, 3], (writer) =>
          Effect.forEach(Array.from({ length: 25 }, (_, t) => t), (t) =>
            transaction(Outbox.publishAll(Array.from({ length: 10 }, (_, j) => {
              const n = writer * 1_000 + t * 10 + j + 1
              const key = `k${(writer * 3 + j) % keys}`
              return { subject: `orders.${key}`, envelope: envelope(n, key), partitionKey: key }
            }))), { discard: true }), { concurrency: "unbounded", discard: true })
        yield* Wait.until(Outbox.status, (s) => s.pending === 0, "all sent")
        const messages = yield* streamMessages("ORDERS")
        assert.strictEqual(messages.length, 1_000)
        // Within a key, messages go out in id order. Writers commit concurrently, so ids of one key
        // interleave across writers, but each writer's own messages of a key are in increasing n.
        const payloads = bodies(messages).map((p) => ({ n: p.n, key: `${p.key}/${Math.floor((p.n - 1) / 1_000)}` }))
        assert.isTrue(inOrderPerKey(payloads), "per-key order")
        const log = yield* AppendLog
        assert.strictEqual(log.calls.filter((c) => c.outcome === "stored").length, 1_000)
        assert.strictEqual(log.calls.length, 1_000, "no append was repeated")
        const [a, b] = [yield* relayA.stats, yield* relayB.stats]
        assert.strictEqual(a.published + b.published, 1_000)
        assert.strictEqual(a.duplicates + b.duplicates, 0)
      }).pipe(Effect.provide(env())))

    it.effect("LISTEN/NOTIFY: a commit in another process wakes a relay with a long poll interval", () =>
      Effect.gen(function*() {
        const table = uniqueTable()
        yield* Effect.gen(function*() {
          yield* ensureStream("ORDERS", ["orders.>"])
          yield* Layer.build(OutboxRelay.layer({ pollInterval: "1 hour" }))
          yield* Wait.until(listenersOn(table), (n) => n === 1, "the relay LISTENs")
          // Another client and another store: no in-process signal reaches the relay.
          const publisher = Outbox.layer.pipe(
            Layer.provide(OutboxSql.layer({ table })),
            Layer.provide(otherClient)
          )
          yield* Effect.provide(
            Effect.flatMap(Effect.service(SqlClient.SqlClient), (sql) =>
              sql.withTransaction(Outbox.publish("orders.placed", envelope(1)))),
            Layer.merge(publisher, otherClient),
            { local: true } // a fresh memo map: nothing shared with the relay's layers
          )
          yield* Wait.until(streamMessages("ORDERS"), (m) => m.length === 1, "woken by NOTIFY, not by the hourly poll")
        }).pipe(Effect.provide(env({ table })))
      }))

    it.effect("without NOTIFY the same relay only finds the message when it polls", () =>
      Effect.gen(function*() {
        const table = uniqueTable()
        yield* Effect.gen(function*() {
          yield* ensureStream("ORDERS", ["orders.>"])
          yield* Layer.build(OutboxRelay.layer({ pollInterval: "1 hour" }))
          yield* Wait.until(listenersOn(table), (n) => n === 1, "the relay LISTENs")
          const publisher = Outbox.layer.pipe(
            Layer.provide(OutboxSql.layer({ table, notify: false })),
            Layer.provide(otherClient)
          )
          yield* Effect.provide(Outbox.publish("orders.placed", envelope(1)), publisher, { local: true })
          yield* Effect.sleep("1 second")
          assert.strictEqual((yield* streamMessages("ORDERS")).length, 0)
          assert.strictEqual((yield* Outbox.status).pending, 1)
        }).pipe(Effect.provide(env({ table })))
      }))

    it.effect("a relay killed between append and mark-sent: after its lease, another relay re-appends a duplicate", () =>
      Effect.gen(function*() {
        yield* ensureStream("ORDERS", ["orders.>"])
        let crashes = 0
        const crashed = Context.get(
          yield* Layer.build(OutboxRelay.layer({
            lease: "500 millis",
            pollInterval: "20 millis",
            name: "crashing",
            beforeMarkSent: () =>
              Effect.suspend(() => {
                crashes++
                return Effect.interrupt // the worker dies here: appended, not marked sent
              })
          })),
          OutboxRelay.OutboxRelay
        )
        yield* transaction(Outbox.publish("orders.placed", envelope(1)))
        yield* Wait.until(Effect.sync(() => crashes), (n) => n === 1, "crash")
        assert.strictEqual((yield* streamMessages("ORDERS")).length, 1)
        const status = yield* Outbox.status
        assert.strictEqual(status.pending, 1)
        assert.strictEqual(status.leased, 1)
        const survivor = Context.get(
          yield* Layer.build(OutboxRelay.layer({ pollInterval: "50 millis", name: "survivor" })),
          OutboxRelay.OutboxRelay
        )
        const stats = yield* Wait.until(survivor.stats, (s) => s.published === 1, "reclaimed")
        assert.strictEqual(stats.duplicates, 1)
        assert.strictEqual((yield* streamMessages("ORDERS")).length, 1)
        assert.strictEqual((yield* crashed.stats).published, 0)
        const log = yield* AppendLog
        assert.deepStrictEqual(log.calls.map((c) => c.outcome), ["stored", "duplicate"])
        assert.strictEqual((yield* Outbox.status).sent, 1)
      }).pipe(Effect.provide(env())))
  })
})
