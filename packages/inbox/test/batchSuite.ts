/**
 * The inbox with batched commits (`Inbox.batched`) on a SQL database, with
 * the in-memory EventLog: a failing message inside a batch, a commit that
 * fails, and the same message twice in one batch. The same suite runs on
 * SQLite and on PostgreSQL.
 */
import { MemoryTransport, Wait } from "@herald/testing"
import { EventLog, Topology } from "@herald/transport"
import { assert, expect, layer } from "@effect/vitest"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { Inbox, InboxSql } from "../src/index.ts"
import { boom, bump, counts, createCounter, envelope, idOf, lagOf, nOf, unique } from "./helpers.ts"

const N = 10

const setup = (prefix: string, duplicateWindow?: Duration.Input) =>
  Effect.gen(function*() {
    const names = unique(prefix)
    yield* createCounter(names.counter)
    yield* Topology.ensure({
      streams: [
        { name: names.stream, subjects: [`${names.subject}.>`], ...(duplicateWindow === undefined ? {} : { duplicateWindow }) },
        Topology.deadLetterStream()
      ],
      consumers: [{ stream: names.stream, name: names.consumer }]
    })
    const log = yield* EventLog.EventLog
    return { ...names, log, subjectX: `${names.subject}.x` }
  })

const run = <A, E, R>(body: Effect.Effect<A, E, R>) => {
  const table = unique("bt").table
  return Effect.scoped(body).pipe(
    Effect.provide(Layer.provideMerge(Layer.unwrap(Effect.sync(() => InboxSql.layer({ table }))), MemoryTransport.layer))
  )
}

export const batchSuite = <E>(name: string, database: Layer.Layer<SqlClient.SqlClient, E>) =>
  layer(database, { excludeTestServices: true, timeout: "60 seconds" })(name, (it) => {
    it.effect(`a failing message inside a batch of ${N}: rolled back to its savepoint and nak'd; the others commit once`, () =>
      run(Effect.gen(function*() {
        const t = yield* setup("bfail")
        for (let n = 1; n <= N; n++) yield* t.log.append(t.subjectX, envelope(n))
        const seenAtStart: Array<[number, number, number | undefined]> = []
        const handler = (d: EventLog.Delivery) =>
          Effect.gen(function*() {
            const id = d.envelope.identity.messageId
            if (nOf(d) === 4) seenAtStart.push([nOf(d), d.deliveryCount, (yield* counts(t.counter)).get(id)])
            yield* bump(t.counter, id)
            if (nOf(d) === 4 && d.deliveryCount === 1) return yield* Effect.fail(boom("message 4 fails after its write"))
          })
        const inbox = yield* Inbox.batched({ size: N, linger: "2 seconds" })
        const handle = yield* t.log.consume(t.stream, t.consumer, inbox(handler), {
          concurrency: N,
          nakDelay: () => "10 millis"
        })
        yield* Wait.until(handle.stats, (s) => s.acked === N && s.inFlight === 0, `all ${N} acked`)
        expect(yield* handle.stats).toMatchObject({ acked: N, naked: 1, deadLettered: 0 })
        // The retry saw nothing of the failed attempt.
        assert.deepStrictEqual(seenAtStart, [[4, 1, undefined], [4, 2, undefined]])
        const applied = yield* counts(t.counter)
        assert.strictEqual(applied.size, N)
        for (let n = 1; n <= N; n++) assert.strictEqual(applied.get(idOf(n)), 1, `message ${n}`)
        const records = yield* Inbox.records({ consumer: t.consumer })
        assert.strictEqual(records.length, N)
        assert.strictEqual(records.find((r) => r.messageId === idOf(4))!.deliveryCount, 2)
        assert.deepStrictEqual(yield* lagOf(t.log, t.stream, t.consumer), { pending: 0, ackPending: 0, ackFloor: N })
      })))

    it.effect(`the commit of a batch of ${N} fails: nothing applied, all ${N} nak'd and redelivered, then each applied once`, () =>
      run(Effect.gen(function*() {
        const t = yield* setup("bcommit")
        const sql = yield* SqlClient.SqlClient
        // A foreign key checked at COMMIT: an orphan row makes the commit fail.
        const parent = `${t.counter}_parent`
        const child = `${t.counter}_child`
        yield* sql.onDialectOrElse({
          sqlite: () => sql`PRAGMA foreign_keys = ON`,
          orElse: () => Effect.void
        })
        yield* sql`CREATE TABLE ${sql(parent)} (id TEXT PRIMARY KEY)`
        yield* sql`CREATE TABLE ${sql(child)} (parent_id TEXT NOT NULL REFERENCES ${
          sql(parent)
        } (id) DEFERRABLE INITIALLY DEFERRED)`
        for (let n = 1; n <= N; n++) yield* t.log.append(t.subjectX, envelope(n))
        const seenAtStart: Array<[number, number | undefined]> = []
        const handler = (d: EventLog.Delivery) =>
          Effect.gen(function*() {
            const id = d.envelope.identity.messageId
            if (d.deliveryCount === 2) seenAtStart.push([nOf(d), (yield* counts(t.counter)).get(id)])
            yield* bump(t.counter, id)
            if (nOf(d) === 5 && d.deliveryCount === 1) yield* sql`INSERT INTO ${sql(child)} (parent_id) VALUES ('missing')`
          })
        const inbox = yield* Inbox.batched({ size: N, linger: "2 seconds" })
        const handle = yield* t.log.consume(t.stream, t.consumer, inbox(handler), {
          concurrency: N,
          nakDelay: () => "10 millis"
        })
        yield* Wait.until(handle.stats, (s) => s.acked === N && s.inFlight === 0, `all ${N} acked`)
        expect(yield* handle.stats).toMatchObject({ acked: N, naked: N, deadLettered: 0 })
        // Every redelivery found nothing of the first attempt: the whole batch was rolled back.
        assert.deepStrictEqual(
          seenAtStart.sort(([a], [b]) => a - b),
          Array.from({ length: N }, (_, i) => [i + 1, undefined])
        )
        const applied = yield* counts(t.counter)
        assert.strictEqual(applied.size, N)
        for (let n = 1; n <= N; n++) assert.strictEqual(applied.get(idOf(n)), 1, `message ${n}`)
        const records = yield* Inbox.records({ consumer: t.consumer })
        assert.deepStrictEqual(records.map((r) => r.deliveryCount), Array.from({ length: N }, () => 2))
        const orphans = yield* sql<{ readonly n: number | string | bigint }>`SELECT count(*) AS n FROM ${sql(child)}`
        assert.strictEqual(Number(orphans[0]!.n), 0)
      })))

    it.effect("the same message twice in one batch (a copy stored after the dedupe window): applied once, both acked", () =>
      run(Effect.gen(function*() {
        const t = yield* setup("bdup", "50 millis")
        yield* t.log.append(t.subjectX, envelope(1))
        yield* t.log.append(t.subjectX, envelope(2))
        yield* Effect.sleep("80 millis")
        yield* t.log.append(t.subjectX, envelope(1))
        yield* t.log.append(t.subjectX, envelope(3))
        const calls: Array<number> = []
        const duplicates: Array<number> = []
        const handler = (d: EventLog.Delivery) =>
          Effect.andThen(Effect.sync(() => calls.push(d.streamSequence)), bump(t.counter, d.envelope.identity.messageId))
        const inbox = yield* Inbox.batched({
          size: 4,
          linger: "2 seconds",
          onDuplicate: (d) => Effect.sync(() => void duplicates.push(d.streamSequence))
        })
        const handle = yield* t.log.consume(t.stream, t.consumer, inbox(handler), { concurrency: 4 })
        yield* Wait.until(handle.stats, (s) => s.acked === 4 && s.inFlight === 0, "all four acked")
        assert.deepStrictEqual(calls.sort(), [1, 2, 4])
        assert.deepStrictEqual(duplicates, [3])
        assert.deepStrictEqual([...(yield* counts(t.counter))].sort(), [[idOf(1), 1], [idOf(2), 1], [idOf(3), 1]])
        expect(yield* handle.stats).toMatchObject({ acked: 4, naked: 0, deadLettered: 0 })
        assert.deepStrictEqual(yield* lagOf(t.log, t.stream, t.consumer), { pending: 0, ackPending: 0, ackFloor: 4 })
      })))
  })
