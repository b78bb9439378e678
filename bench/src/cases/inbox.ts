/**
 * Inbox-protected consume: `EventLog.consume` of the consume stream with
 * `Inbox.middleware()` (InboxSql on the given database, a fresh table per
 * run) around a no-op handler, against raw nats.js `consume()` + `m.ack()`
 * (the raw side of the consume rows).
 */
import { Inbox, InboxSql, InboxStore } from "@herald/inbox"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import { type BenchContext, runTimeoutMillis, withinEffect } from "../context.ts"
import { type Case, now } from "../harness.ts"
import { consume, CONSUME_STREAM, withConsumer } from "./jetstream.ts"

/** How long a Herald inbox run may take before it stops and reports acked / elapsed. */
const deadlineMillis = Number(process.env["BENCH_INBOX_DEADLINE_MS"] ?? "15000")

export const inboxConsume = (
  ctx: BenchContext,
  concurrency: number,
  sqlContext: Context.Context<SqlClient.SqlClient>
): Case => {
  const n = Math.min(ctx.sizes.inbox, ctx.sizes.consume)
  const raw = consume(ctx, { concurrency }, "ack", n).raw
  const tag = `inbox_c${concurrency}`
  return {
    title: `inbox-protected consume (pg), ${n} messages, herald Inbox.middleware concurrency ${concurrency}, raw m.ack()`,
    raw,
    herald: (run) =>
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
          return { rate: Math.min(acked, n) / ((t1 - t0) / 1000), complete: acked >= n ? 1 : 0, acked }
        })).pipe(
          Effect.provideContext(sqlContext),
          withinEffect(runTimeoutMillis, `herald inbox run ${run}`),
          Effect.orDie
        )
      )
  }
}
