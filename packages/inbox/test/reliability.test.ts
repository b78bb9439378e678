/**
 * Reliability: a real nats-server 2.9 (NatsServer + NatsTransport) and a real
 * PostgreSQL (TestDatabase). A consumer with the inbox processes N messages
 * (default 600) while
 *
 * - the ack wait is 1 second, and every 25th message's first attempt sleeps
 *   1.5 s inside its transaction: the server redelivers it while the first
 *   attempt still runs (the second attempt waits on the inbox row's lock,
 *   then finds it committed: a duplicate);
 * - 12 % of the attempts are interrupted after a random 0–8 ms, at whatever
 *   point of the transaction they are (BEGIN, the inbox insert, the
 *   handler's write, its sleep, or just after COMMIT);
 * - 5 % of the attempts fail after their write (retryable: nak'd, then
 *   redelivered after 20 ms);
 * - 16 handlers run at once, so deliveries also wait in the runner's queue
 *   past the ack wait and are redelivered.
 *
 * The handler's database effect is one upsert into a counter table. The
 * assertion: every message id has count exactly 1 and the total is N.
 *
 * The same run in batch mode (`Inbox.batched`, batches of 16, linger 5 ms,
 * 32 handlers at once), on PostgreSQL and on SQLite: an interrupted attempt
 * is cancelled in its batch (or rolled back to its savepoint), a failing
 * one rolled back to its savepoint, and a slow one holds its whole batch
 * past the ack wait, so that all of the batch is redelivered while it runs.
 * Every 100th message sleeps there (a batch waits for its slowest message).
 *
 * The guard-removal experiment: `INBOX_UNGUARDED=1` runs the same handler
 * in the same kind of transaction without the inbox record; the test then
 * fails (messages applied twice). `INBOX_RELIABILITY_N` and
 * `INBOX_RELIABILITY_SEED` change the size and the random seed.
 */
import { SqliteClient } from "@herald/sql-sqlite"
import { NatsServer, Wait } from "@herald/testing"
import { TestDatabase } from "@herald/testing/pg"
import { EventLog, Topology } from "@herald/transport"
import { NatsTransport } from "@herald/transport-nats"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { Inbox, InboxSql, InboxStore } from "../src/index.ts"
import { boom, bump, counts, createCounter, envelope, lagOf, nOf, unique } from "./helpers.ts"

const N = Number(process.env["INBOX_RELIABILITY_N"] ?? "600")
const unguarded = process.env["INBOX_UNGUARDED"] === "1"
const seed = Number(process.env["INBOX_RELIABILITY_SEED"] ?? String(Math.floor(Math.random() * 2 ** 31)))

/** mulberry32: a small seeded generator, so that a failing run can be repeated. */
const generator = (s: number) => () => {
  s = (s + 0x6D2B79F5) | 0
  let t = Math.imul(s ^ (s >>> 15), 1 | s)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const Nats = Layer.unwrap(
  NatsServer.NatsServer.useSync((server) => NatsTransport.layer({ servers: server.url, name: "inbox-reliability" }))
).pipe(Layer.provideMerge(NatsServer.layer()))

type Mode = "per-message" | "batch"

const reliability = <E>(name: string, database: Layer.Layer<SqlClient.SqlClient, E>, mode: Mode) =>
layer(Layer.mergeAll(Nats, database), { excludeTestServices: true, timeout: "60 seconds" })(name, (it) => {
  const batch = mode === "batch"
  const sleepEvery = batch ? 100 : 25
  it.effect(
    `${N} messages, interrupted mid-transaction, redelivered while still running: each applied exactly once${
      batch ? " (batched commits)" : unguarded ? " [UNGUARDED EXPERIMENT]" : ""
    }`,
    () =>
      Effect.gen(function*() {
        const random = generator(seed)
        const t = unique("rel")
        const sql = yield* SqlClient.SqlClient
        yield* createCounter(t.counter)
        const store = yield* InboxSql.make({ table: t.table })
        yield* Topology.ensure({
          streams: [{ name: t.stream, subjects: [`${t.subject}.>`] }, Topology.deadLetterStream()],
          consumers: [{ stream: t.stream, name: t.consumer, ackWait: "1 second" }]
        })
        const log = yield* EventLog.EventLog
        yield* Effect.forEach(
          Array.from({ length: N }, (_, i) => i + 1),
          (n) => log.append(`${t.subject}.m`, envelope(n)),
          { concurrency: 64, discard: true }
        )

        const stats = {
          attempts: 0,
          redeliveries: 0,
          handlerRuns: 0,
          sleepers: 0,
          injectedFailures: 0,
          interrupted: 0,
          duplicatesSkipped: 0,
          overlapping: 0
        }
        const inFlight = new Map<string, number>()

        // The business effect: one write, sometimes slow, sometimes failing.
        const handler = (d: EventLog.Delivery) =>
          Effect.gen(function*() {
            stats.handlerRuns++
            yield* bump(t.counter, d.envelope.identity.messageId)
            if (d.deliveryCount === 1 && nOf(d) % sleepEvery === 0) {
              stats.sleepers++
              yield* Effect.sleep("1500 millis")
            } else {
              yield* Effect.sleep(Math.floor(random() * 5))
            }
            if (random() < 0.05) {
              stats.injectedFailures++
              return yield* Effect.fail(boom("injected failure after the write"))
            }
          })

        const onDuplicate = () => Effect.sync(() => void stats.duplicatesSkipped++)
        const guarded = batch
          ? (yield* Inbox.batched({ size: 16, linger: "5 millis", onDuplicate }).pipe(
            Effect.provideService(InboxStore.InboxStore, store)
          ))(handler)
          : unguarded
          ? (d: EventLog.Delivery) => sql.withTransaction(handler(d))
          : Inbox.middleware({ onDuplicate })(handler)

        const attempt = (d: EventLog.Delivery) => {
          const id = d.envelope.identity.messageId
          stats.attempts++
          if (d.deliveryCount > 1) stats.redeliveries++
          const running = inFlight.get(id) ?? 0
          if (running > 0) stats.overlapping++
          inFlight.set(id, running + 1)
          const interruptAfter = random() < 0.12 ? Math.floor(random() * 9) : undefined
          const guardedAttempt = interruptAfter === undefined
            ? guarded(d)
            : Effect.timeoutOrElse(guarded(d), {
              duration: interruptAfter,
              orElse: () => Effect.sync(() => void stats.interrupted++).pipe(Effect.andThen(Effect.fail(boom("interrupted"))))
            })
          return guardedAttempt.pipe(
            Effect.ensuring(Effect.sync(() => void inFlight.set(id, (inFlight.get(id) ?? 1) - 1)))
          )
        }

        const handle = yield* log.consume(t.stream, t.consumer, attempt, {
          concurrency: batch ? 32 : 16,
          nakDelay: () => "20 millis"
        }).pipe(Effect.provideService(InboxStore.InboxStore, store))

        const done = Effect.gen(function*() {
          const applied = yield* counts(t.counter)
          const lag = yield* lagOf(log, t.stream, t.consumer)
          const s = yield* handle.stats
          return { applied: applied.size, ...lag, inFlight: s.inFlight }
        })
        yield* Wait.until(
          done,
          (d) => d.applied === N && d.pending === 0 && d.ackPending === 0 && d.inFlight === 0,
          "every message applied and acked",
          { bound: "50 seconds", interval: "100 millis" }
        )
        // Longer than the ack wait: nothing is redelivered any more.
        yield* Effect.sleep("1500 millis")
        const final = yield* done
        const applied = yield* counts(t.counter)
        const values = [...applied.values()]
        const total = values.reduce((a, b) => a + b, 0)
        const twice = values.filter((n) => n > 1).length
        const records = yield* store.records({ consumer: t.consumer, limit: N + 10 })
        const summary = {
          seed,
          unguarded,
          mode,
          N,
          ...stats,
          runner: yield* handle.stats,
          final,
          distinctApplied: applied.size,
          totalApplied: total,
          appliedMoreThanOnce: twice,
          maxApplied: Math.max(...values),
          inboxRecords: records.length
        }
        yield* Effect.logInfo(`inbox reliability: ${JSON.stringify(summary)}`)

        // The run exercised what it claims to.
        assert.isAbove(stats.redeliveries, 0, "redeliveries happened")
        assert.isAbove(stats.interrupted, 0, "interruptions happened")
        assert.isAbove(stats.overlapping, 0, "a redelivery ran while the first attempt was still running")
        // Exactly once.
        assert.strictEqual(applied.size, N, `every message applied (seed ${seed})`)
        assert.deepStrictEqual(twice, 0, `messages applied more than once (seed ${seed}): ${JSON.stringify(summary)}`)
        assert.strictEqual(total, N, `total applications (seed ${seed})`)
        if (!unguarded || batch) assert.strictEqual(records.length, N)
      }),
    120_000
  )
})

reliability("inbox reliability (nats-server + PostgreSQL)", TestDatabase.layerPg({ maxConnections: 24 }), "per-message")
reliability("inbox reliability, batched commits (nats-server + PostgreSQL)", TestDatabase.layerPg({ maxConnections: 24 }), "batch")
reliability("inbox reliability, batched commits (nats-server + SQLite)", SqliteClient.layer({ filename: ":memory:" }), "batch")
