/**
 * Inbox-protected consume: `EventLog.consume` of the consume stream with the
 * inbox (InboxSql on the given database, a fresh table per run) around a
 * no-op handler, against raw nats.js `consume()` + `m.ack()` (the raw side
 * of the consume rows, at least `minMillis`). Each Herald run measures two
 * sides one after the other, each on a fresh consumer:
 *
 * - `rate`: `Inbox.middleware()` (one transaction per message), the first
 *   `sizes.inbox` messages, at `concurrency`;
 * - `batchRate`: `Inbox.batched({ size, linger })` (one transaction per
 *   batch, a savepoint per message), at least `minMillis`, at
 *   `batchConcurrency`.
 */
import { Inbox, InboxSql, InboxStore } from "@herald/inbox"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import { type BenchContext, runTimeoutMillis, withinEffect } from "../context.ts"
import { type Case, cpuMicros, minMillis, now } from "../harness.ts"
import { consume, CONSUME_STREAM, withConsumer } from "./jetstream.ts"

/** How long a Herald inbox run may take before it stops and reports acked / elapsed. */
const deadlineMillis = Number(process.env["BENCH_INBOX_DEADLINE_MS"] ?? "15000")

/** The batched side's options. */
export interface BatchSettings {
  readonly size: number
  readonly lingerMillis: number
  readonly transactions: number
  readonly concurrency: number
}

export const inboxConsume = (
  ctx: BenchContext,
  concurrency: number,
  batch: BatchSettings,
  sqlContext: Context.Context<SqlClient.SqlClient>
): Case => {
  const n = Math.min(ctx.sizes.inbox, ctx.sizes.consume)
  const raw = consume(ctx, { concurrency }, "ack").raw
  const tag = `inbox_c${concurrency}`

  const perMessage = (run: number) =>
    withConsumer(
      ctx,
      `herald_${tag}_${run}`,
      Effect.scoped(Effect.gen(function*() {
        // Untimed: the table is created here.
        const store = yield* InboxSql.make({ table: `bench_inbox_${run}` })
        const handler = Inbox.middleware()(() => Effect.void)
        const t0 = now()
        const handle = yield* ctx.eventLog.consume(CONSUME_STREAM, `herald_${tag}_${run}`, handler, {
          concurrency
        }).pipe(Effect.provideService(InboxStore.InboxStore, store))
        const deadline = t0 + deadlineMillis
        let acked = 0
        while ((acked = (yield* handle.stats).acked) < n && now() < deadline) yield* Effect.sleep(1)
        const t1 = now()
        // The stream holds more than n messages: acks past the n-th are not counted.
        return { rate: Math.min(acked, n) / ((t1 - t0) / 1000), complete: acked >= n ? 1 : 0 }
      }))
    )

  const batched = (run: number) =>
    withConsumer(
      ctx,
      `herald_${tag}_batch_${run}`,
      Effect.scoped(Effect.gen(function*() {
        const store = yield* InboxSql.make({ table: `bench_inbox_batch_${run}` })
        const inbox = yield* Inbox.batched({
          size: batch.size,
          linger: batch.lingerMillis,
          transactions: batch.transactions
        }).pipe(
          Effect.provideService(InboxStore.InboxStore, store)
        )
        const handler = inbox(() => Effect.void)
        const c0 = process.cpuUsage()
        const t0 = now()
        const handle = yield* ctx.eventLog.consume(CONSUME_STREAM, `herald_${tag}_batch_${run}`, handler, {
          concurrency: batch.concurrency
        })
        let acked = 0
        while (now() - t0 < minMillis && (acked = (yield* handle.stats).acked) < ctx.sizes.consume) yield* Effect.sleep(1)
        acked = (yield* handle.stats).acked
        const t1 = now()
        return { batchRate: acked / ((t1 - t0) / 1000), batchCpu: cpuMicros(c0) / acked }
      }))
    )

  return {
    title:
      `inbox-protected consume (pg), herald Inbox.middleware concurrency ${concurrency} (${n} messages) and Inbox.batched size ${batch.size} linger ${batch.lingerMillis} ms transactions ${batch.transactions} concurrency ${batch.concurrency} (at least ${minMillis} ms), raw m.ack()`,
    // The raw side serves both rows.
    raw: (run) => Effect.map(raw(run), (s) => ({ ...s, batchRate: s["rate"]! })),
    herald: (run) =>
      Effect.gen(function*() {
        const one = yield* perMessage(run)
        const many = yield* batched(run)
        return { ...one, ...many }
      }).pipe(
        Effect.provideContext(sqlContext),
        withinEffect(2 * runTimeoutMillis, `herald inbox run ${run}`),
        Effect.orDie
      )
  }
}
