/**
 * The inbox middleware on a SQL database, with the in-memory EventLog: the
 * same suite runs on SQLite and on PostgreSQL.
 */
import { MemoryTransport, Wait } from "@herald/testing"
import { EventLog, Handler, Middleware, Topology } from "@herald/transport"
import { assert, expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Migrator from "effect/sql/Migrator"
import * as SqlClient from "effect/sql/SqlClient"
import * as TestClock from "effect/testing/TestClock"
import { Inbox, InboxError, InboxMigrations, InboxSql, type InboxStore } from "../src/index.ts"
import { boom, bump, counts, createCounter, envelope, idOf, lagOf, nOf, unique } from "./helpers.ts"

export interface SuiteOptions {
  /** Whether a second connection can read while a transaction is open (PostgreSQL: yes; one SQLite connection: no). */
  readonly concurrentReaders: boolean
}

/** A fresh in-memory transport and an inbox on a table of its own. */
const setup = (prefix: string, consumer?: Partial<Topology.ConsumerConfig>, duplicateWindow?: Duration.Input) =>
  Effect.gen(function*() {
    const names = unique(prefix)
    yield* createCounter(names.counter)
    yield* Topology.ensure({
      streams: [
        { name: names.stream, subjects: [`${names.subject}.>`], ...(duplicateWindow === undefined ? {} : { duplicateWindow }) },
        Topology.deadLetterStream()
      ],
      consumers: [{ stream: names.stream, name: names.consumer, ...consumer }]
    })
    const log = yield* EventLog.EventLog
    return { ...names, log, subjectX: `${names.subject}.x` }
  })

const withTransport = (table: () => string) =>
  Layer.provideMerge(
    Layer.unwrap(Effect.sync(() => InboxSql.layer({ table: table() }))),
    MemoryTransport.layer
  )

/** Runs a test body on a fresh in-memory transport with an inbox table of its own. */
const run = <A, E, R>(body: (table: string) => Effect.Effect<A, E, R>) => {
  const table = unique("t").table
  return Effect.scoped(body(table)).pipe(Effect.provide(withTransport(() => table)))
}

export const sqlSuite = <E>(
  name: string,
  database: Layer.Layer<SqlClient.SqlClient, E>,
  options: SuiteOptions
) =>
  layer(database, { excludeTestServices: true, timeout: "60 seconds" })(name, (it) => {
    it.effect("a message stored twice (a producer retried after the dedupe window) is applied once; both copies are acked", () =>
      run(() =>
        Effect.gen(function*() {
          const t = yield* setup("dup", undefined, "50 millis")
          const first = yield* t.log.append(t.subjectX, envelope(1))
          yield* Effect.sleep("80 millis")
          const second = yield* t.log.append(t.subjectX, envelope(1))
          assert.deepStrictEqual([first.sequence, first.duplicate, second.sequence, second.duplicate], [1, false, 2, false])

          const calls: Array<number> = []
          const duplicates: Array<number> = []
          const handler = (d: EventLog.Delivery) =>
            Effect.andThen(Effect.sync(() => calls.push(d.streamSequence)), bump(t.counter, d.envelope.identity.messageId))
          const handle = yield* t.log.consume(
            t.stream,
            t.consumer,
            Inbox.middleware({ onDuplicate: (d) => Effect.sync(() => void duplicates.push(d.streamSequence)) })(handler)
          )
          yield* Wait.until(handle.stats, (s) => s.acked === 2, "both copies acked")
          assert.deepStrictEqual(calls, [1])
          assert.deepStrictEqual(duplicates, [2])
          assert.deepStrictEqual([...(yield* counts(t.counter))], [[idOf(1), 1]])
          assert.deepStrictEqual(yield* lagOf(t.log, t.stream, t.consumer), { pending: 0, ackPending: 0, ackFloor: 2 })

          const records = yield* Inbox.records({ consumer: t.consumer })
          assert.strictEqual(records.length, 1)
          expect(records[0]).toMatchObject({
            consumer: t.consumer,
            messageId: idOf(1),
            stream: t.stream,
            streamSequence: 1,
            subject: t.subjectX,
            type: "test.Deposited",
            deliveryCount: 1
          })
          assert.isTrue(yield* Inbox.processed(t.consumer, idOf(1)))
          assert.isFalse(yield* Inbox.processed(t.consumer, idOf(2)))
          assert.isFalse(yield* Inbox.processed("someone-else", idOf(1)))
        })
      ))

    it.effect("a redelivery after a lost ack is a duplicate: the handler is skipped and the message acked (lag 0)", () =>
      run(() =>
        Effect.gen(function*() {
          const t = yield* setup("lost", { ackWait: "300 millis" })
          yield* t.log.append(t.subjectX, envelope(1))
          const calls: Array<number> = []
          const guarded = Inbox.middleware()((d: EventLog.Delivery) =>
            Effect.andThen(Effect.sync(() => calls.push(d.deliveryCount)), bump(t.counter, d.envelope.identity.messageId))
          )
          // The first delivery is handled, and its ack is lost (never sent).
          const [first] = yield* t.log.pull(t.stream, t.consumer)
          yield* guarded(first!)
          assert.deepStrictEqual(yield* lagOf(t.log, t.stream, t.consumer), { pending: 0, ackPending: 1, ackFloor: 0 })

          const handle = yield* t.log.consume(t.stream, t.consumer, guarded)
          yield* Wait.until(handle.stats, (s) => s.acked === 1, "the redelivery acked")
          assert.deepStrictEqual(calls, [1])
          assert.deepStrictEqual([...(yield* counts(t.counter))], [[idOf(1), 1]])
          assert.deepStrictEqual(yield* lagOf(t.log, t.stream, t.consumer), { pending: 0, ackPending: 0, ackFloor: 1 })
          expect(yield* handle.stats).toMatchObject({ acked: 1, naked: 0, deadLettered: 0 })
        })
      ))

    it.effect("a handler failure rolls back its write and the record; the redelivery applies it once", () =>
      run(() =>
        Effect.gen(function*() {
          const t = yield* setup("fail")
          yield* t.log.append(t.subjectX, envelope(1))
          const seenAtStart: Array<[number, number | undefined]> = []
          const handler = (d: EventLog.Delivery) =>
            Effect.gen(function*() {
              const id = d.envelope.identity.messageId
              // Inside the transaction: what the previous attempt left behind.
              seenAtStart.push([d.deliveryCount, (yield* counts(t.counter)).get(id)])
              yield* bump(t.counter, id)
              if (d.deliveryCount === 1) return yield* Effect.fail(boom("first attempt fails after its write"))
            })
          const handle = yield* t.log.consume(t.stream, t.consumer, Inbox.middleware()(handler), {
            nakDelay: () => "10 millis"
          })
          yield* Wait.until(handle.stats, (s) => s.acked === 1, "the retry acked")
          // The second attempt ran the handler (no record) and saw no write of the first.
          assert.deepStrictEqual(seenAtStart, [[1, undefined], [2, undefined]])
          assert.deepStrictEqual([...(yield* counts(t.counter))], [[idOf(1), 1]])
          expect(yield* handle.stats).toMatchObject({ acked: 1, naked: 1, deadLettered: 0 })
          const record = yield* Inbox.record(t.consumer, idOf(1))
          assert.isTrue(Option.isSome(record))
          assert.strictEqual(Option.getOrThrow(record).deliveryCount, 2)
          assert.deepStrictEqual(yield* lagOf(t.log, t.stream, t.consumer), { pending: 0, ackPending: 0, ackFloor: 1 })
        })
      ))

    it.effect("an interrupted handler (a timeout outside the inbox) rolls back; the redelivery applies it once", () =>
      run(() =>
        Effect.gen(function*() {
          const t = yield* setup("intr")
          yield* t.log.append(t.subjectX, envelope(1))
          const handler = (d: EventLog.Delivery) =>
            Effect.andThen(
              bump(t.counter, d.envelope.identity.messageId),
              d.deliveryCount === 1 ? Effect.never : Effect.void
            )
          const guarded = Handler.pipe(handler, Inbox.middleware(), Middleware.timeout("100 millis"))
          const handle = yield* t.log.consume(t.stream, t.consumer, guarded, { nakDelay: () => "10 millis" })
          yield* Wait.until(handle.stats, (s) => s.acked === 1, "the retry acked")
          assert.deepStrictEqual([...(yield* counts(t.counter))], [[idOf(1), 1]])
          expect(yield* handle.stats).toMatchObject({ acked: 1, naked: 1 })
        })
      ))

    it.effect("the record is committed before the middleware succeeds, and the message is not yet acked then", () =>
      run(() =>
        Effect.gen(function*() {
          const t = yield* setup("order")
          yield* t.log.append(t.subjectX, envelope(1))
          const sql = yield* SqlClient.SqlClient
          const visibleInside: Array<boolean> = []
          const handler = (d: EventLog.Delivery) =>
            Effect.gen(function*() {
              yield* bump(t.counter, d.envelope.identity.messageId)
              if (options.concurrentReaders) {
                // Another connection does not see the record before the commit.
                visibleInside.push(
                  yield* Inbox.processed(t.consumer, d.envelope.identity.messageId).pipe(
                    Effect.updateContext((context: Context.Context<InboxStore.InboxStore>) =>
                      Context.omit(sql.transactionService)(context)
                    )
                  )
                )
              }
            })
          const guarded = Inbox.middleware()(handler)
          const afterSuccess: Array<[boolean, number, number]> = []
          const observed = (d: EventLog.Delivery) =>
            Effect.tap(guarded(d), () =>
              Effect.gen(function*() {
                const lag = yield* t.log.lag(t.stream, t.consumer)
                afterSuccess.push([yield* Inbox.processed(t.consumer, d.envelope.identity.messageId), lag.ackPending, lag.ackFloor])
              }))
          const handle = yield* t.log.consume(t.stream, t.consumer, observed)
          yield* Wait.until(handle.stats, (s) => s.acked === 1, "acked")
          // When the middleware's effect succeeded: committed (visible outside), not yet acked.
          assert.deepStrictEqual(afterSuccess, [[true, 1, 0]])
          assert.deepStrictEqual(visibleInside, options.concurrentReaders ? [false] : [])
          assert.deepStrictEqual(yield* lagOf(t.log, t.stream, t.consumer), { pending: 0, ackPending: 0, ackFloor: 1 })
        })
      ))

    it.effect("each consumer applies a message once", () =>
      run(() =>
        Effect.gen(function*() {
          const t = yield* setup("two")
          yield* Topology.ensure({ streams: [], consumers: [{ stream: t.stream, name: "second" }] })
          for (let n = 1; n <= 3; n++) yield* t.log.append(t.subjectX, envelope(n))
          const handler = (d: EventLog.Delivery) => bump(t.counter, `${d.consumer}:${d.envelope.identity.messageId}`)
          const a = yield* t.log.consume(t.stream, t.consumer, Inbox.middleware()(handler))
          const b = yield* t.log.consume(t.stream, "second", Inbox.middleware()(handler))
          yield* Wait.until(Effect.all([a.stats, b.stats]), ([x, y]) => x.acked === 3 && y.acked === 3, "both consumers acked 3")
          const c = yield* counts(t.counter)
          assert.strictEqual(c.size, 6)
          assert.isTrue([...c.values()].every((n) => n === 1))
          assert.strictEqual((yield* Inbox.records({ consumer: t.consumer })).length, 3)
          assert.strictEqual((yield* Inbox.records({ consumer: "second" })).length, 3)
        })
      ))

    it.effect("a named inbox (consumer option) keeps records apart from the durable consumer's name", () =>
      run(() =>
        Effect.gen(function*() {
          const t = yield* setup("named")
          yield* t.log.append(t.subjectX, envelope(1))
          const handle = yield* t.log.consume(
            t.stream,
            t.consumer,
            Inbox.middleware({ consumer: "billing-v2" })((d) => bump(t.counter, d.envelope.identity.messageId))
          )
          yield* Wait.until(handle.stats, (s) => s.acked === 1, "acked")
          assert.isTrue(yield* Inbox.processed("billing-v2", idOf(1)))
          assert.isFalse(yield* Inbox.processed(t.consumer, idOf(1)))
          const empty = yield* Effect.exit(Inbox.middleware({ consumer: "" })(() => Effect.void)({} as EventLog.Delivery))
          assert.isTrue(Exit.isFailure(empty))
        })
      ))

    it.effect("inside a transaction it does not own, the middleware refuses to run (NestedTransaction, not retryable)", () =>
      run(() =>
        Effect.gen(function*() {
          const t = yield* setup("nested")
          yield* t.log.append(t.subjectX, envelope(1))
          const sql = yield* SqlClient.SqlClient
          const [d] = yield* t.log.pull(t.stream, t.consumer)
          let ran = false
          const guarded = Inbox.middleware()(() => Effect.sync(() => void (ran = true)))
          const error = yield* Effect.flip(sql.withTransaction(guarded(d!)))
          assert.isTrue(InboxError.isInboxError(error))
          const e = error as InboxError.InboxError
          assert.strictEqual(e.reason._tag, "NestedTransaction")
          assert.isFalse(e.isRetryable)
          assert.isFalse(ran)
          assert.isFalse(yield* Inbox.processed(t.consumer, idOf(1)))
        })
      ))

    it.effect("records: filters by consumer, stream, type and time; oldest first; limit", () =>
      run(() =>
        Effect.gen(function*() {
          const t = yield* setup("query")
          for (let n = 1; n <= 5; n++) yield* t.log.append(t.subjectX, envelope(n, n % 2 === 0 ? "test.Even" : "test.Odd"))
          const guarded = Inbox.middleware()(() => Effect.void)
          const deliveries = yield* t.log.pull(t.stream, t.consumer, { batch: 5 })
          const times: Array<number> = []
          for (const d of deliveries) {
            yield* guarded(d)
            times.push(Option.getOrThrow(yield* Inbox.record(t.consumer, d.envelope.identity.messageId)).processedAt)
            yield* Effect.sleep("5 millis")
          }
          const all = yield* Inbox.records({ consumer: t.consumer })
          assert.deepStrictEqual(all.map((r) => r.streamSequence), [1, 2, 3, 4, 5])
          assert.deepStrictEqual((yield* Inbox.records({ consumer: t.consumer, type: "test.Even" })).map((r) => r.streamSequence), [2, 4])
          assert.deepStrictEqual((yield* Inbox.records({ consumer: t.consumer, limit: 2 })).map((r) => r.streamSequence), [1, 2])
          assert.deepStrictEqual(
            (yield* Inbox.records({ consumer: t.consumer, since: times[1]!, until: times[3]! })).map((r) => r.streamSequence),
            [2, 3]
          )
          assert.strictEqual((yield* Inbox.records({ stream: "NOPE" })).length, 0)
          const bad = yield* Effect.flip(Inbox.records({ limit: 0 }))
          assert.strictEqual(bad.reason._tag, "InvalidConfig")
          // forget: the next delivery is applied again.
          assert.isTrue(yield* Inbox.forget(t.consumer, idOf(1)))
          assert.isFalse(yield* Inbox.forget(t.consumer, idOf(1)))
          assert.isFalse(yield* Inbox.processed(t.consumer, idOf(1)))
          assert.deepStrictEqual(deliveries.map(nOf), [1, 2, 3, 4, 5])
        })
      ))

    it.effect("retention: cleanup deletes the records older than the limit only (TestClock, and an explicit time)", () =>
      run(() =>
        Effect.gen(function*() {
          const t = yield* setup("ret")
          for (let n = 1; n <= 3; n++) yield* t.log.append(t.subjectX, envelope(n))
          const guarded = Inbox.middleware()(() => Effect.void)
          const [d1, d2, d3] = yield* t.log.pull(t.stream, t.consumer, { batch: 3 })
          yield* TestClock.setTime(1_000_000)
          yield* guarded(d1!)
          yield* guarded(d2!)
          yield* TestClock.adjust("2 hours")
          yield* guarded(d3!)
          yield* TestClock.adjust("30 minutes")
          assert.strictEqual(yield* Inbox.cleanup("1 hour"), 2)
          assert.deepStrictEqual((yield* Inbox.records()).map((r) => r.messageId), [idOf(3)])
          assert.strictEqual(Option.getOrThrow(yield* Inbox.record(t.consumer, idOf(3))).processedAt, 1_000_000 + 7_200_000)
          assert.strictEqual(yield* Inbox.cleanup("1 hour"), 0)
          // An explicit cutoff: strictly before it.
          assert.strictEqual(yield* Inbox.cleanupBefore(1_000_000 + 7_200_000), 0)
          assert.strictEqual(yield* Inbox.cleanupBefore(1_000_000 + 7_200_001), 1)
          assert.strictEqual((yield* Inbox.records()).length, 0)
          const bad = yield* Effect.flip(Inbox.cleanup("0 millis"))
          assert.strictEqual(bad.reason._tag, "InvalidConfig")
        }).pipe(Effect.provide(TestClock.layer()))
      ))

    it.effect("retention: a scoped fiber deletes old records periodically, and stops with its scope", () =>
      run(() =>
        Effect.gen(function*() {
          const t = yield* setup("fiber")
          for (let n = 1; n <= 2; n++) yield* t.log.append(t.subjectX, envelope(n))
          const guarded = Inbox.middleware()(() => Effect.void)
          const [d1, d2] = yield* t.log.pull(t.stream, t.consumer, { batch: 2 })
          const fiber = yield* Effect.forkChild(
            Effect.scoped(Effect.andThen(Inbox.retention({ maxAge: "300 millis", every: "50 millis" }), Effect.never))
          )
          yield* guarded(d1!)
          yield* Effect.sleep("400 millis")
          yield* guarded(d2!)
          yield* Wait.until(Inbox.processed(t.consumer, idOf(1)), (p) => !p, "the old record deleted")
          assert.isTrue(yield* Inbox.processed(t.consumer, idOf(2)))
          yield* Fiber.interrupt(fiber)
          yield* Effect.sleep("500 millis")
          // The fiber is gone: the record outlives the limit.
          assert.isTrue(yield* Inbox.processed(t.consumer, idOf(2)))
        })
      ))

    it.effect("migrations: idempotent, configurable table, invalid names refused before any SQL; Migrator integration", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const names = unique("mig")
        yield* InboxMigrations.run({ table: names.table })
        yield* InboxMigrations.run({ table: names.table })
        yield* sql`SELECT consumer, message_id, stream, stream_sequence, subject, message_type, delivery_count, processed_at FROM ${
          sql(names.table)
        }`
        for (const bad of ["bad-name", "a.b.c", "1abc", "x; drop table y", "", "a".repeat(49), "\"q\""]) {
          const error = yield* Effect.flip(InboxMigrations.run({ table: bad }))
          assert.strictEqual(error.reason._tag, "InvalidConfig", bad)
          const store = yield* Effect.flip(InboxSql.make({ table: bad }))
          assert.strictEqual(store.reason._tag, "InvalidConfig", bad)
        }
        const ddl = InboxMigrations.statements("pg", { table: "app.inbox" })
        assert.isTrue(Result.isSuccess(ddl))
        assert.match(Result.getOrThrow(ddl)[0]!, /CREATE TABLE IF NOT EXISTS "app"."inbox"/)
        assert.isTrue(Result.isFailure(InboxMigrations.statements("sqlite", { table: "no-good" })))

        const viaMigrator = unique("migr").table
        const ran = yield* Migrator.make({})({
          loader: Migrator.fromRecord(InboxMigrations.migrations({ id: 1, table: viaMigrator })),
          table: `${viaMigrator}_migrations`
        })
        assert.strictEqual(ran.length, 1)
        yield* sql`SELECT count(*) AS n FROM ${sql(viaMigrator)}`
        // A store on it, without migrating.
        const store = yield* InboxSql.make({ table: viaMigrator, migrate: false })
        assert.strictEqual(store.guarantee, "atomic")
        assert.strictEqual(store.kind, sql.onDialectOrElse({ pg: () => "sql:pg", sqlite: () => "sql:sqlite", orElse: () => "?" }))
      }))
  })
