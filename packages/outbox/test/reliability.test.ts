/**
 * Reliability of the outbox end to end, against PostgreSQL (TestDatabase) and
 * a real nats-server 2.9 (one per test): 10,000 business transactions while
 * the nats-server is SIGKILLed three times, and the relay's PostgreSQL
 * backends terminated under load.
 *
 * Every assertion is an exact count; no assertion is about timing. Every wait
 * is bounded and fails with what it was waiting for and what it last saw.
 */
import { assert, describe, it } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { NatsServer, Wait } from "@herald/testing"
import { TestDatabase } from "@herald/testing/pg"
import { EventLog, Topology } from "@herald/transport"
import { NatsTransport } from "@herald/transport-nats"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as SqlClient from "effect/sql/SqlClient"
import { Outbox, OutboxMigrations, OutboxRelay, OutboxSql } from "../src/index.ts"
import { envelope, streamMessages } from "./helpers.ts"

// -----------------------------------------------------------------------------
// helpers
// -----------------------------------------------------------------------------

let counter = 0
const unique = () => {
  const id = `${++counter}x${Math.random().toString(36).slice(2, 6)}`
  return {
    table: `rel_outbox_${id}`,
    orders: `rel_orders_${id}`,
    stream: `REL${id}`.toUpperCase(),
    prefix: `rel${id}`,
    consumer: `C${id}`.toUpperCase()
  }
}

/** PostgreSQL (a database of its own, 20 connections), a nats-server of its own, the NATS transport on it. */
const Env = Layer.mergeAll(
  TestDatabase.layerPg({ maxConnections: 20 }),
  Layer.unwrap(
    Effect.map(Effect.service(NatsServer.NatsServer), (server) =>
      NatsTransport.layer({ servers: server.url, name: "outbox-reliability", reconnectTimeWait: "250 millis" }))
  ).pipe(Layer.provideMerge(NatsServer.layer()))
)

/** The outbox on `table` (migrated), on the suite's client. */
const outboxOn = (table: string) =>
  Outbox.layer.pipe(
    Layer.provideMerge(OutboxSql.layer({ table })),
    Layer.provide(OutboxMigrations.layer({ table }))
  )

const { bounded, until, whileRunning } = Wait

class Rollback extends Data.TaggedError("Rollback")<{}> {}

const count = (table: string) =>
  Effect.flatMap(Effect.service(SqlClient.SqlClient), (sql) =>
    Effect.map(sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM ${sql(table)}`, (rows) => rows[0]!.n))

/** A line of the run's counts in the test output. */
const report = (line: string) => Effect.sync(() => console.log(`[reliability] ${line}`))

const statsLine = (s: OutboxRelay.Stats) =>
  `claimed ${s.claimed}, published ${s.published}, duplicates ${s.duplicates}, failed appends ${s.failed}, ` +
  `released ${s.released}, batches ${s.batches}, errors ${s.errors}, last error ${JSON.stringify(s.lastError)}`

/**
 * `total` transactions on `fibers` fibers: each inserts an order and publishes
 * message `n` in one transaction; those `rollback(n)` fail after both and roll
 * back. Any other failure is a defect (the test fails).
 */
const writers = (options: {
  readonly orders: string
  readonly subject: string
  readonly total: number
  readonly fibers: number
  readonly rollback: (n: number) => boolean
  readonly pause?: Duration.Input | undefined
  readonly committed: Set<string>
  readonly rolledBack: Set<string>
}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    let next = 0
    const one = (n: number) =>
      sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO ${sql(options.orders)} (id, total) VALUES (${n}, ${n * 10})`
        yield* Outbox.publish(options.subject, envelope(n))
        if (options.rollback(n)) return yield* new Rollback()
      }))
    const fiber = Effect.gen(function*() {
      while (next < options.total) {
        const n = ++next
        const id = envelope(n).identity.messageId
        const exit = yield* Effect.exit(one(n))
        if (Exit.isSuccess(exit)) options.committed.add(id)
        else if (options.rollback(n)) options.rolledBack.add(id)
        else return yield* Effect.die(new Error(`transaction ${n} failed unexpectedly: ${String(exit.cause)}`))
        if (options.pause !== undefined) yield* Effect.sleep(options.pause)
      }
    })
    yield* Effect.all(Array.from({ length: options.fibers }, () => fiber), { concurrency: "unbounded", discard: true })
  })

// -----------------------------------------------------------------------------
// tests
// -----------------------------------------------------------------------------

describe("outbox reliability", () => {
  it.live(
    "10,000 business transactions, three nats-server crashes",
    () => {
      const { consumer, orders, prefix, stream, table } = unique()
      return Effect.scoped(Effect.gen(function*() {
        const TOTAL = 11_111 // every 10th rolls back: 1,111 rolled back, 10,000 committed
        const COMMITTED = 10_000
        const started = Date.now()
        const server = yield* NatsServer.NatsServer
        const sql = yield* SqlClient.SqlClient
        const log = yield* EventLog.EventLog
        const subject = `${prefix}.placed`
        yield* sql`CREATE TABLE ${sql(orders)} (id INTEGER PRIMARY KEY, total INTEGER NOT NULL)`
        yield* Topology.ensure({
          streams: [{ name: stream, subjects: [`${prefix}.>`], storage: "file" }],
          consumers: [{ stream, name: consumer, ackWait: "5 seconds" }]
        })

        // The consumer: every handled id, and every handler call.
        const handled = new Map<string, number>()
        let calls = 0
        const handle = yield* log.consume(stream, consumer, (d) =>
          Effect.sync(() => {
            calls++
            const id = d.envelope.identity.messageId
            handled.set(id, (handled.get(id) ?? 0) + 1)
          }), { concurrency: 8 })

        // The relay, running the whole time.
        const relay = Context.get(
          yield* Layer.build(OutboxRelay.layer({
            relays: 2,
            batchSize: 250,
            pollInterval: "200 millis",
            appendTimeout: "2 seconds",
            retryBase: "100 millis",
            retryMax: "1 second"
          })),
          OutboxRelay.OutboxRelay
        )

        const committed = new Set<string>()
        const rolledBack = new Set<string>()
        const writing = yield* Effect.forkChild(writers({
          orders,
          subject,
          total: TOTAL,
          fibers: 8,
          rollback: (n) => n % 10 === 0,
          committed,
          rolledBack
        }))

        // Three SIGKILLs, spread over the relaying: after 2,500, 5,000 and 7,500 messages published.
        const kills: Array<string> = []
        for (const at of [2_500, 5_000, 7_500]) {
          const s = yield* whileRunning(
            handle,
            until(relay.stats, (s) => s.published >= at, `the relay published ${at} messages before kill ${kills.length + 1}`, { bound: "60 seconds" })
          )
          kills.push(`at published ${s.published} / committed ${committed.size} / handled ${handled.size}`)
          yield* server.kill
          yield* Effect.sleep("1 second")
          yield* server.start
        }

        yield* bounded(Fiber.join(writing), "60 seconds", () => `the writers (${committed.size} committed)`)
        const writtenAt = Date.now()
        assert.strictEqual(committed.size, COMMITTED, "committed transactions")
        assert.strictEqual(rolledBack.size, TOTAL - COMMITTED, "rolled-back transactions")
        assert.strictEqual(yield* count(orders), COMMITTED, "business rows")
        assert.strictEqual(yield* count(table), COMMITTED, "outbox rows (rolled-back ones left none)")

        yield* whileRunning(
          handle,
          until(
            Effect.sync(() => [...committed].filter((id) => !handled.has(id)).length),
            (missing) => missing === 0,
            "every committed message handled by the consumer (missing count)",
            { bound: "60 seconds" }
          )
        )
        const status = yield* until(Outbox.status, (s) => s.pending === 0, "outbox pending 0", { bound: "30 seconds" })
        const stats = yield* relay.stats
        const info = yield* log.info(stream)
        const messages = yield* streamMessages(stream)
        const storedIds = messages.map((m) => m.raw.headers["Nats-Msg-Id"])
        const consumerStats = yield* handle.stats

        yield* report(
          `10,000 transactions: kills ${JSON.stringify(kills)}; relay ${statsLine(stats)}; ` +
            `handler calls ${calls}, redeliveries ${calls - handled.size}; consumer ${JSON.stringify(consumerStats)}; ` +
            `status ${JSON.stringify(status)}; writes done in ${writtenAt - started} ms; total ${Date.now() - started} ms`
        )

        assert.strictEqual(info.messages, COMMITTED, "stored messages: re-appends after a crash must be duplicates")
        assert.strictEqual(info.lastSequence, COMMITTED, "no sequence was used by a second copy")
        assert.strictEqual(messages.length, COMMITTED, "messages read back")
        assert.strictEqual(new Set(storedIds).size, COMMITTED, "distinct Nats-Msg-Id in the stream")
        assert.deepStrictEqual(storedIds.filter((id) => id === undefined || !committed.has(id)), [], "only committed ids stored")
        assert.deepStrictEqual([...rolledBack].filter((id) => storedIds.includes(id)), [], "no rolled-back id stored")
        assert.strictEqual(handled.size, COMMITTED, "distinct messages handled")
        assert.deepStrictEqual([...committed].filter((id) => !handled.has(id)), [], "committed ids never handled")
        assert.deepStrictEqual([...rolledBack].filter((id) => handled.has(id)), [], "rolled-back ids handled")
        assert.deepStrictEqual([status.pending, status.leased, status.parked, status.sent], [0, 0, 0, COMMITTED])
        assert.isAtLeast(stats.published, COMMITTED)
        assert.isTrue(Option.isNone(yield* Effect.timeoutOption(handle.await, "1 millis")), "the runner is running")
      })).pipe(Effect.provide(outboxOn(table)), Effect.provide(Env))
    },
    { timeout: 150_000 }
  )

  it.live(
    "the relay's PostgreSQL connection is terminated",
    () => {
      const { orders, prefix, stream, table } = unique()
      const application = `outbox-relay-${prefix}`
      return Effect.scoped(Effect.gen(function*() {
        const TOTAL = 3_000
        const started = Date.now()
        const sql = yield* SqlClient.SqlClient
        const pg = yield* PgClient.PgClient
        const log = yield* EventLog.EventLog
        yield* sql`CREATE TABLE ${sql(orders)} (id INTEGER PRIMARY KEY, total INTEGER NOT NULL)`
        yield* Topology.ensure({ streams: [{ name: stream, subjects: [`${prefix}.>`], storage: "file" }], consumers: [] })

        // The relay on a client of its own (another process, as far as PostgreSQL can tell), named so that its
        // backends can be told apart; its lease short enough that a batch whose settle died is re-claimed soon.
        const relayClient = PgClient.layer({ ...pg.config, applicationName: application, maxConnections: 4 })
        const relay = Context.get(
          yield* Layer.build(
            OutboxRelay.layer({
              relays: 2,
              batchSize: 100,
              lease: "3 seconds",
              pollInterval: "500 millis",
              retryBase: "100 millis",
              retryMax: "1 second"
            }).pipe(Layer.provide(OutboxSql.layer({ table })), Layer.provide(relayClient))
          ),
          OutboxRelay.OutboxRelay
        )
        const relayBackends = sql<{ readonly pid: number; readonly query: string; readonly state: string }>`
          SELECT pid, query, state FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = ${application} AND pid <> pg_backend_pid()`
        const listening = Effect.map(relayBackends, (rows) => rows.filter((r) => /^\s*LISTEN/i.test(r.query)).length)
        yield* until(listening, (n) => n === 1, "the relay LISTENs", { bound: "10 seconds" })

        const committed = new Set<string>()
        const rolledBack = new Set<string>()
        const writing = yield* Effect.forkChild(writers({
          orders,
          subject: `${prefix}.placed`,
          total: TOTAL,
          fibers: 4,
          rollback: () => false,
          pause: "4 millis",
          committed,
          rolledBack
        }))

        // Four rounds of pg_terminate_backend on every backend of the relay, ~700 ms apart, while writers commit.
        const rounds: Array<string> = []
        for (let round = 0; round < 4; round++) {
          yield* Effect.sleep("700 millis")
          const before = yield* relayBackends
          // Select first, terminate after: in one statement the planner may call pg_terminate_backend before
          // the application_name filter, on backends that are not the relay's.
          const killed: Array<number> = []
          for (const { pid } of before) {
            const [row] = yield* sql<{ readonly ok: boolean }>`SELECT pg_terminate_backend(${pid}) AS ok`
            if (row!.ok) killed.push(pid)
          }
          const s = yield* relay.stats
          rounds.push(
            `round ${round + 1}: ${killed.length} backends terminated (${
              before.filter((r) => /^\s*LISTEN/i.test(r.query)).length
            } LISTEN), committed ${committed.size}, published ${s.published}, errors ${s.errors}`
          )
        }
        const terminatedAt = Date.now()
        const afterKills = yield* relay.stats

        yield* bounded(Fiber.join(writing), "60 seconds", () => `the writers (${committed.size} committed)`)
        const writtenAt = Date.now()
        assert.strictEqual(committed.size, TOTAL, "committed transactions")
        assert.strictEqual(yield* count(orders), TOTAL, "business rows")

        // The relay resumes by itself: everything committed ends up in the stream, once.
        const status = yield* until(
          Outbox.status,
          (s) => s.pending === 0,
          `outbox pending 0 after the terminations (relay stats after them: ${statsLine(afterKills)})`,
          { bound: "40 seconds" }
        )
        const resumedAt = Date.now()
        // And it LISTENs again (a wake-up subscription re-established, not only polling).
        const listenAgain = yield* Effect.exit(until(listening, (n) => n === 1, "the relay LISTENs again", { bound: "10 seconds" }))
        const stats = yield* relay.stats
        const info = yield* log.info(stream)
        const storedIds = (yield* streamMessages(stream)).map((m) => m.raw.headers["Nats-Msg-Id"])

        yield* report(
          `terminated backends: ${rounds.join("; ")}; relay ${statsLine(stats)}; status ${JSON.stringify(status)}; ` +
            `stream ${info.messages} messages (last sequence ${info.lastSequence}); ` +
            `writers done ${writtenAt - terminatedAt} ms after the last termination, all sent ${resumedAt - writtenAt} ms after that; total ${Date.now() - started} ms`
        )

        assert.strictEqual(info.messages, TOTAL, "stored messages: every committed message once")
        assert.strictEqual(info.lastSequence, TOTAL, "no second copy was ever stored")
        assert.strictEqual(new Set(storedIds).size, TOTAL, "distinct Nats-Msg-Id in the stream")
        assert.deepStrictEqual(storedIds.filter((id) => id === undefined || !committed.has(id)), [], "only committed ids stored")
        assert.deepStrictEqual([status.pending, status.leased, status.parked, status.sent], [0, 0, 0, TOTAL])
        // (`published` is not exact here: a mark-sent whose connection was terminated may have committed or not.)
        assert.isTrue(stats.errors > 0, "the terminations were felt by the relay")
        assert.isTrue(
          Exit.isSuccess(listenAgain),
          `the relay LISTENs again after its connection was terminated: ${Exit.isFailure(listenAgain) ? String(listenAgain.cause) : ""}`
        )
      })).pipe(Effect.provide(outboxOn(table)), Effect.provide(Env))
    },
    { timeout: 120_000 }
  )
})
