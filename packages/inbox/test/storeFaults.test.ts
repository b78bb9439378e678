/**
 * Faults of the store are not faults of the message: with the inbox table
 * dropped under a running consumer, every delivery fails on the store, is
 * nak'd and comes back; none is dead-lettered. Once the table is back, each
 * message is applied exactly once. A failure the message itself causes (a
 * value the database refuses) is not retryable, and its reason names the
 * database's code. On PostgreSQL and on SQLite, with the in-memory EventLog.
 */
import { SqliteClient } from "@herald/sql-sqlite"
import { MemoryTransport, Wait } from "@herald/testing"
import { TestDatabase } from "@herald/testing/pg"
import { EventLog, Topology } from "@herald/transport"
import { assert, expect, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlError from "effect/sql/SqlError"
import { Inbox, InboxError, InboxMigrations, InboxSql, InboxStore } from "../src/index.ts"
import { bump, counts, createCounter, envelope, idOf, lagOf, nOf, unique } from "./helpers.ts"

const N = 300
/** Messages handled before the table is dropped. */
const before = 100

interface Expected {
  /** The database's code for a missing table. */
  readonly missingTable: string
  /** Entries the database refuses, with the code it refuses them with. */
  readonly refused: ReadonlyArray<readonly [string, Partial<InboxStore.Entry>, string]>
}

/** Text that does not compress (an index entry is compressed before its size is checked). */
const noise = (length: number): string =>
  Array.from({ length }, () => String.fromCharCode(33 + Math.floor(Math.random() * 94))).join("")

const storeErrorOf = (u: unknown): InboxError.StoreError | undefined =>
  InboxError.isInboxError(u) && u.reason._tag === "StoreError" ? u.reason : undefined

const faultSuite = <E>(name: string, database: Layer.Layer<SqlClient.SqlClient, E>, expected: Expected) =>
  layer(database, { excludeTestServices: true, timeout: "120 seconds" })(name, (it) => {
    it.effect(
      `the inbox table dropped while a guarded consumer runs ${N} messages: none dead-lettered; once it is back, each handled exactly once`,
      () => {
        const names = unique("fault")
        return Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* createCounter(names.counter)
          yield* Topology.ensure({
            streams: [{ name: names.stream, subjects: [`${names.subject}.>`] }, Topology.deadLetterStream()],
            consumers: [{ stream: names.stream, name: names.consumer }]
          })
          const log = yield* EventLog.EventLog
          for (let n = 1; n <= N; n++) yield* log.append(`${names.subject}.x`, envelope(n))

          // Messages after the first `before` wait here (outside any transaction) until the table is gone.
          const dropped = yield* Deferred.make<void>()
          const failures: Array<unknown> = []
          const guarded = Inbox.middleware()((d: EventLog.Delivery) => bump(names.counter, d.envelope.identity.messageId))
          const handler = (d: EventLog.Delivery) =>
            Effect.andThen(
              nOf(d) > before ? Deferred.await(dropped) : Effect.void,
              Effect.tapError(guarded(d), (e) => Effect.sync(() => void failures.push(e)))
            )
          const handle = yield* log.consume(names.stream, names.consumer, handler, {
            concurrency: 4,
            // Backoff, kept short for the test: 20 ms doubling to 320 ms.
            nakDelay: (n) => `${Math.min(20 * 2 ** (n - 1), 320)} millis`
          })
          yield* Wait.whileRunning(
            handle,
            Wait.until(handle.stats, (s) => s.acked === before, `the first ${before} messages handled`)
          )

          yield* sql`DROP TABLE ${sql(names.table)}`
          yield* Deferred.succeed(dropped, undefined)
          // Every remaining message fails on the missing table at least once, most of them several times.
          yield* Wait.whileRunning(
            handle,
            Wait.until(handle.stats, (s) => s.naked >= 2 * (N - before), "deliveries failing on the missing table")
          )
          const during = yield* handle.stats
          assert.strictEqual(during.acked, before)
          assert.strictEqual(during.deadLettered, 0)
          assert.strictEqual(during.termed, 0)

          yield* InboxMigrations.run({ table: names.table })
          yield* Wait.whileRunning(
            handle,
            Wait.until(handle.stats, (s) => s.acked === N && s.inFlight === 0, `all ${N} messages acked`, { bound: "60 seconds" })
          )

          const stats = yield* handle.stats
          expect(stats).toMatchObject({ acked: N, termed: 0, deadLettered: 0, inFlight: 0 })
          assert.isAtLeast(stats.naked, 2 * (N - before))
          assert.strictEqual((yield* log.info(Topology.deadLetterStream().name)).messages, 0)
          assert.deepStrictEqual(yield* lagOf(log, names.stream, names.consumer), { pending: 0, ackPending: 0, ackFloor: N })

          // Each message's effect applied exactly once; the records of the recreated table are those handled after.
          const applied = yield* counts(names.counter)
          assert.strictEqual(applied.size, N)
          for (let n = 1; n <= N; n++) assert.strictEqual(applied.get(idOf(n)), 1, `message ${n}`)
          const records = yield* Inbox.records({ consumer: names.consumer, limit: 1_000 })
          assert.strictEqual(records.length, N - before)

          // Every failure was the store's: retryable, naming the database's code and message.
          assert.strictEqual(failures.length, stats.naked)
          for (const failure of failures) {
            const reason = storeErrorOf(failure)
            assert.isDefined(reason, String(failure))
            assert.isTrue(reason!.retryable)
            assert.isTrue(reason!.isRetryable)
            assert.isDefined(reason!.code)
            assert.include(reason!.message, reason!.code!)
          }
          const missing = failures.map(storeErrorOf).filter((r) => r?.code === expected.missingTable)
          assert.isAbove(missing.length, 0)
          assert.include(missing[0]!.message, names.table)
        }).pipe(Effect.provide(Layer.provideMerge(InboxSql.layer({ table: names.table }), MemoryTransport.layer)))
      }
    )

    it.effect("a value the database refuses is the message's fault: not retryable, the reason names the code", () =>
      Effect.gen(function*() {
        const names = unique("refused")
        const store = yield* InboxSql.make({ table: names.table })
        const entry: InboxStore.Entry = {
          consumer: names.consumer,
          messageId: idOf(1),
          stream: names.stream,
          streamSequence: 1,
          subject: `${names.subject}.x`,
          type: "test.Deposited",
          deliveryCount: 1
        }
        for (const [what, change, code] of expected.refused) {
          let ran = false
          const exit = yield* Effect.exit(store.run({ ...entry, ...change }, Effect.sync(() => void (ran = true))))
          assert.isTrue(Exit.isFailure(exit), `${what}: refused`)
          const error = Cause.squash((exit as Exit.Failure<unknown, unknown>).cause) as InboxError.InboxError
          const reason = storeErrorOf(error)
          assert.isDefined(reason, what)
          assert.strictEqual(reason!.code, code, what)
          assert.isFalse(reason!.retryable, what)
          assert.isFalse(error.isRetryable, what)
          assert.include(error.message, code, what)
          assert.include(error.message, "not retryable", what)
          assert.isFalse(ran, what)
        }
        // The store is fine for a good entry.
        assert.strictEqual(yield* store.run(entry, Effect.void), "processed")
        assert.strictEqual(yield* store.run(entry, Effect.void), "duplicate")
      }))

    it.effect("a unique violation of the inbox's own key is its duplicate handling, not the message's fault", () =>
      Effect.sync(() => {
        const code = expected.missingTable === "42P01" ? "23505" : "SQLITE_CONSTRAINT_PRIMARYKEY"
        const cause = new SqlError.SqlError({
          reason: new SqlError.UniqueViolation({
            cause: code === "23505"
              ? Object.assign(new Error("duplicate key value violates unique constraint"), { code })
              : Object.assign(new Error("UNIQUE constraint failed: t.consumer, t.message_id"), { errcode: 1555 }),
            constraint: "pkey"
          })
        })
        const own = InboxError.store("record in inbox table t", cause, { ownKey: true })
        assert.isTrue(own.isRetryable)
        assert.strictEqual(storeErrorOf(own)?.code, code)
        const other = InboxError.store("record in inbox table t", cause)
        assert.isFalse(other.isRetryable)
      }))
  })

faultSuite("inbox store faults on PostgreSQL (in-memory EventLog)", TestDatabase.layerPg(), {
  missingTable: "42P01",
  refused: [
    ["a NUL byte in the subject", { subject: "a.\u0000.b" }, "22021"],
    ["a stream sequence out of BIGINT range", { streamSequence: 1e20 }, "22003"],
    ["a key too large for the index", { consumer: noise(8_000) }, "54000"]
  ]
})

faultSuite("inbox store faults on SQLite (in-memory EventLog)", SqliteClient.layer({ filename: ":memory:" }), {
  missingTable: "SQLITE_ERROR",
  refused: [
    ["a stream sequence that is not a number (NULL)", { streamSequence: Number.NaN }, "SQLITE_CONSTRAINT_NOTNULL"]
  ]
})
