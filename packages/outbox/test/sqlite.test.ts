/**
 * The outbox on SQLite (`@herald/sql-sqlite`, on node:sqlite): the shared
 * suite on `:memory:`, migrations, a business table in the same
 * transaction, a file database, several relays on one table.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { SqliteClient } from "@herald/sql-sqlite"
import { MemoryTransport, Wait } from "@herald/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as SqlClient from "effect/sql/SqlClient"
import * as TestClock from "effect/testing/TestClock"
import { Outbox, OutboxError, OutboxMigrations, OutboxRelay, OutboxSql, OutboxStore } from "../src/index.ts"
import { AppendLog, counting, ensureStream, envelope, streamMessages } from "./helpers.ts"
import { suite } from "./suite.ts"

const outboxOn = (options?: OutboxSql.Options) =>
  Outbox.layer.pipe(
    Layer.provideMerge(OutboxSql.layer(options)),
    Layer.provide(OutboxMigrations.layer(options))
  )

const env = (filename = ":memory:", options?: OutboxSql.Options) =>
  Layer.mergeAll(outboxOn(options), counting(MemoryTransport.layer)).pipe(
    Layer.provideMerge(SqliteClient.layer({ filename }))
  )

const transaction = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Effect.service(SqlClient.SqlClient), (sql) => sql.withTransaction(self))

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "herald-outbox-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

describe("Outbox on SQLite", () => {
  suite({
    env: () => env(),
    transaction,
    effect: (name, f) => it.effect(name, f),
    live: (name, f) => it.live(name, f)
  })

  it.effect("migrations run once, are idempotent, and honour the table name", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      assert.deepStrictEqual(yield* OutboxMigrations.migrate(), [[1, "create_outbox"]])
      assert.deepStrictEqual(yield* OutboxMigrations.migrate(), [])
      yield* OutboxMigrations.migration()
      yield* OutboxMigrations.migrate({ table: "main.app_outbox" })
      const tables = yield* sql<{ readonly name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
      const names = tables.map((t) => t.name)
      for (const name of ["app_outbox", "herald_outbox", "herald_outbox_migrations", "app_outbox_migrations"]) {
        assert.include(names, name)
      }
      const indexes = yield* sql<{ readonly name: string }>`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'app_outbox'`
      assert.deepStrictEqual(indexes.map((i) => i.name).sort(), ["app_outbox_blocked_idx", "app_outbox_key_idx", "app_outbox_pending_idx", "app_outbox_sent_idx"])
      const bad = yield* Effect.flip(OutboxMigrations.migrate({ table: "x; DROP TABLE y" }))
      assert.strictEqual(bad.reason._tag, "InvalidConfig")
      assert.isTrue(Result.isFailure(OutboxMigrations.statements("sqlite", { table: "1abc" })))
      assert.isTrue(Result.isSuccess(OutboxMigrations.statements("pg", { table: "app.outbox" })))
    }).pipe(Effect.provide(SqliteClient.layer({ filename: ":memory:" }))))

  it.effect("the business change and the message commit together, or not at all", () =>
    Effect.gen(function*() {
      yield* ensureStream("ORDERS", ["orders.>"])
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER NOT NULL)`
      const placeOrder = (n: number, fail: boolean) =>
        sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO orders (id, total) VALUES (${n}, ${n * 10})`
          yield* Outbox.publish("orders.placed", envelope(n), { partitionKey: `order-${n}` })
          if (fail) return yield* Effect.fail("payment refused")
        }))
      for (let n = 1; n <= 10; n++) yield* Effect.exit(placeOrder(n, n % 3 === 0))
      // A failure after the transaction body ran a statement that breaks a constraint rolls back too.
      const duplicate = yield* Effect.exit(placeOrder(1, false))
      assert.isTrue(Exit.isFailure(duplicate))
      const [orders] = yield* sql<{ readonly n: number }>`SELECT count(*) AS n FROM orders`
      const [outbox] = yield* sql<{ readonly n: number }>`SELECT count(*) AS n FROM herald_outbox`
      assert.strictEqual(orders!.n, 7)
      assert.strictEqual(outbox!.n, 7)
      yield* OutboxRelay.drain()
      const messages = yield* streamMessages("ORDERS")
      assert.strictEqual(messages.length, 7)
      const log = yield* AppendLog
      assert.strictEqual(log.calls.length, 7)
    }).pipe(Effect.provide(env())))

  it.effect("the table records attempts, the last error, the lease and the sent time", () =>
    Effect.gen(function*() {
      yield* ensureStream("ORDERS", ["orders.>"])
      const sql = yield* SqlClient.SqlClient
      yield* Outbox.publish("orders.placed", envelope(1))
      const log = yield* AppendLog
      log.failNext = 1
      yield* OutboxRelay.drain()
      type Row = {
        readonly state: string
        readonly attempts: number
        readonly last_error: string | null
        readonly available_at: number
        readonly lease_owner: string | null
        readonly sent_at: number | null
        readonly headers: string
      }
      let [row] = yield* sql<Row>`SELECT * FROM herald_outbox`
      assert.strictEqual(row!.state, "pending")
      assert.strictEqual(row!.attempts, 1)
      assert.match(row!.last_error ?? "", /injected failure/)
      assert.strictEqual(row!.available_at, 500)
      assert.isNull(row!.lease_owner)
      assert.include(row!.headers.split("\n"), `Nats-Msg-Id:${envelope(1).identity.messageId}`)
      yield* TestClock.adjust("500 millis")
      const store = yield* OutboxStore.OutboxStore
      const claimed = yield* store.claim({ owner: "me", now: 500, leaseMillis: 1_000, limit: 10 })
      assert.strictEqual(claimed.length, 1)
      assert.strictEqual(claimed[0]!.attempts, 1)
      ;[row] = yield* sql<Row>`SELECT * FROM herald_outbox`
      assert.strictEqual(row!.lease_owner, "me")
      yield* store.release(claimed.map((m) => m.id), "me")
      yield* OutboxRelay.drain()
      ;[row] = yield* sql<Row>`SELECT * FROM herald_outbox`
      assert.strictEqual(row!.state, "sent")
      assert.strictEqual(row!.attempts, 2)
      assert.strictEqual(row!.sent_at, 500)
      assert.isNull(row!.lease_owner)
    }).pipe(Effect.provide(env())))

  it.effect("a row with corrupt headers is parked, never published without its dedupe id", () =>
    Effect.gen(function*() {
      yield* ensureStream("ORDERS", ["orders.>"])
      const sql = yield* SqlClient.SqlClient
      yield* Outbox.publish("orders.placed", envelope(1))
      yield* Outbox.publish("orders.placed", envelope(2))
      yield* sql`UPDATE herald_outbox SET headers = 'garbage' WHERE message_id = ${envelope(1).identity.messageId}`
      const stats = yield* OutboxRelay.drain()
      assert.strictEqual(stats.published, 1)
      assert.strictEqual(stats.parked, 1)
      const failures = yield* Outbox.failures()
      assert.strictEqual(failures[0]!.state, "failed")
      assert.match(failures[0]!.lastError, /corrupt/)
      assert.strictEqual((yield* streamMessages("ORDERS")).length, 1)
    }).pipe(Effect.provide(env())))

  it.effect("a dropped outbox table is the store's fault: a retryable StorageError naming SQLITE_ERROR; once migrated again, the relay publishes", () =>
    Effect.gen(function*() {
      const table = "outbox_dropped"
      const sql = yield* SqlClient.SqlClient
      yield* ensureStream("ORDERS", ["orders.>"])
      yield* Outbox.publish("orders.placed", envelope(1))
      // The relay ran before the table went away. (A statement first prepared while the table is
      // missing stays failed in @effect/sql-sqlite-node's prepare cache until its TTL ends.)
      assert.strictEqual((yield* OutboxRelay.drain()).published, 1)
      yield* sql.unsafe(`DROP TABLE ${table}`)
      const publish = yield* Effect.flip(Outbox.publish("orders.placed", envelope(2)))
      const drain = yield* Effect.flip(OutboxRelay.drain())
      for (const error of [publish, drain]) {
        assert.strictEqual(error.reason._tag, "StorageError")
        const reason = error.reason as OutboxError.StorageError
        assert.strictEqual(reason.code, "SQLITE_ERROR")
        assert.isTrue(reason.retryable)
        assert.isTrue(error.isRetryable)
        assert.include(error.message, "SQLITE_ERROR")
        assert.include(error.message, table)
      }
      // The DDL again (the migrations table still says it ran).
      yield* OutboxMigrations.migration({ table })
      yield* Outbox.publish("orders.placed", envelope(3))
      assert.strictEqual((yield* OutboxRelay.drain()).published, 1)
      assert.strictEqual((yield* streamMessages("ORDERS")).length, 2)
    }).pipe(Effect.provide(env(":memory:", { table: "outbox_dropped" }))))

  it.effect("a header value with a line break is refused at publish", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Outbox.publish("orders.placed", { ...envelope(1), contentType: "text/plain\nX: y" }))
      assert.strictEqual(error.reason._tag, "InvalidInput")
      assert.strictEqual((error.reason as OutboxError.InvalidInput).field, "envelope.contentType")
      assert.strictEqual((yield* Outbox.status).pending, 0)
    }).pipe(Effect.provide(env())))

  it.live("a file database keeps unsent messages across restarts", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = Path.join(dir, "app.db")
      yield* Outbox.publishAll([1, 2, 3].map((n) => ({ subject: "orders.placed", envelope: envelope(n) }))).pipe(
        Effect.provide(outboxOn().pipe(Layer.provideMerge(SqliteClient.layer({ filename }))))
      )
      const published = yield* Effect.gen(function*() {
        yield* ensureStream("ORDERS", ["orders.>"])
        assert.strictEqual((yield* Outbox.status).pending, 3)
        yield* OutboxRelay.drain()
        return yield* streamMessages("ORDERS")
      }).pipe(Effect.provide(env(filename)))
      assert.strictEqual(published.length, 3)
    }))

  it.live("three relays on one table publish every message exactly once", () =>
    Effect.gen(function*() {
      yield* ensureStream("ORDERS", ["orders.>"])
      const context = yield* Layer.build(OutboxRelay.layer({ relays: 3, batchSize: 25, pollInterval: "20 millis" }))
      const relay = Context.get(context, OutboxRelay.OutboxRelay)
      for (let i = 0; i < 20; i++) {
        yield* transaction(Outbox.publishAll(Array.from({ length: 30 }, (_, j) => {
          const n = i * 30 + j + 1
          return { subject: "orders.placed", envelope: envelope(n, `k${n % 7}`), partitionKey: `k${n % 7}` }
        })))
      }
      yield* Wait.until(Outbox.status, (s) => s.pending === 0, "all sent")
      const messages = yield* streamMessages("ORDERS")
      assert.strictEqual(messages.length, 600)
      const log = yield* AppendLog
      assert.strictEqual(log.calls.filter((c) => c.outcome === "stored").length, 600)
      assert.strictEqual(log.calls.length, 600)
      const stats = yield* relay.stats
      assert.strictEqual(stats.published, 600)
      assert.strictEqual(stats.duplicates, 0)
    }).pipe(Effect.provide(env())))
})
