/**
 * Outbox: N messages committed to the outbox table (transactions of
 * `outboxTx` messages, by one `Outbox.publishAll`, by `outboxTx` ×
 * `Outbox.publish`, or by one `publishAll` over `outboxKeys` partition keys;
 * `outboxWriters` transactions at once) while
 * a relay (started before the clock) appends them to JetStream; timed from
 * the first commit's start to the moment the relay has appended and marked
 * sent the last one; each message built (`OrderPlaced.root`) inside its
 * transaction. Raw: nats.js `js.publish` of N messages built per message
 * (`rawOut`), 256 in flight, as the pipelined append case.
 */
import { Outbox, OutboxMigrations, OutboxRelay, OutboxSql, OutboxStore } from "@herald/outbox"
import { EventLog } from "@herald/transport"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import { type BenchContext, runTimeoutMillis, within, withinEffect } from "../context.ts"
import { OrderPlaced, payloadOf, withIds } from "../fixtures.ts"
import { type Case, cpuMicros, now } from "../harness.ts"
import { pipelined, rawAppender, withStream } from "./jetstream.ts"

export type Dialect = "pg" | "sqlite"

/**
 * `publish`: `outboxTx` calls of `Outbox.publish` per transaction;
 * `publishAll`: one call with `outboxTx` messages; `keyed`: one
 * `publishAll` whose messages carry `partitionKey` = one of `outboxKeys` keys
 * (message i has key i mod keys), so the relay keeps each key's order.
 */
export type Mode = "publish" | "publishAll" | "keyed"

const chunk = <A>(xs: ReadonlyArray<A>, size: number): ReadonlyArray<ReadonlyArray<A>> =>
  Array.from({ length: Math.ceil(xs.length / size) }, (_, i) => xs.slice(i * size, (i + 1) * size))

export const enqueueRelay = (
  ctx: BenchContext,
  dialect: Dialect,
  sqlContext: Context.Context<SqlClient.SqlClient>,
  mode: Mode
): Case => {
  const n = ctx.sizes.outbox
  const perTx = ctx.sizes.outboxTx
  const writers = ctx.sizes.outboxWriters
  const keys = ctx.sizes.outboxKeys
  const tag = `${dialect}_${mode}`
  const how = mode === "publish"
    ? `${perTx} Outbox.publish`
    : mode === "publishAll"
    ? `one Outbox.publishAll of ${perTx}`
    : `one Outbox.publishAll of ${perTx} over ${keys} partition keys`
  return {
    title:
      `outbox enqueue+relay (${dialect}), ${n} messages, ${how} per transaction, ${writers} transactions at once; raw js.publish ${ctx.sizes.window} in flight`,
    raw: (run) => {
      const stream = `BENCH_OUTBOX_${tag}_RAW_${run}`
      const subject = `bench.outbox.${tag}.raw.${run}.orders`
      return withStream(ctx, stream, [`bench.outbox.${tag}.raw.${run}.>`], Effect.promise(async () => {
        const send = rawAppender(ctx)
        const c0 = process.cpuUsage()
        const t0 = now()
        await within(runTimeoutMillis, `raw outbox run ${run}`, pipelined(n, ctx.sizes.window, (i) => send(subject, i)))
        const t1 = now()
        const cpu = cpuMicros(c0) / n
        const info = await ctx.jsm.streams.info(stream)
        if (info.state.messages !== n) throw new Error(`raw outbox: ${info.state.messages} stored, expected ${n}`)
        return { rate: n / ((t1 - t0) / 1000), cpu }
      }))
    },
    herald: (run) => {
      const stream = `BENCH_OUTBOX_${tag}_HERALD_${run}`
      const subject = `bench.outbox.${tag}.herald.${run}.orders`
      const table = `bench_outbox_${mode.toLowerCase()}_${run}`
      const batches = chunk(Array.from({ length: n }, (_, i) => i), perTx)
      return withStream(
        ctx,
        stream,
        [`bench.outbox.${tag}.herald.${run}.>`],
        Effect.scoped(Effect.gen(function*() {
          // Untimed: a fresh table, the store, the relay started and idle.
          yield* OutboxMigrations.migrate({ table })
          const store = yield* OutboxSql.make({ table })
          const outbox = yield* Outbox.make.pipe(Effect.provideService(OutboxStore.OutboxStore, store))
          const relay = yield* OutboxRelay.make().pipe(
            Effect.provideService(OutboxStore.OutboxStore, store),
            Effect.provideService(EventLog.EventLog, ctx.eventLog)
          )
          const sql = yield* SqlClient.SqlClient
          // Each message built inside the transaction, as an application does.
          const write = (batch: ReadonlyArray<number>) =>
            sql.withTransaction(
              mode === "publishAll"
                ? Effect.flatMap(
                  Effect.forEach(batch, (i) => Effect.map(OrderPlaced.root(payloadOf(i)), (envelope) => ({ subject, envelope }))),
                  (messages) => outbox.publishAll(messages)
                )
                : mode === "keyed"
                ? Effect.flatMap(
                  Effect.forEach(batch, (i) =>
                    Effect.map(OrderPlaced.root(payloadOf(i)), (envelope) => ({
                      subject,
                      envelope,
                      partitionKey: `k${i % keys}`
                    }))),
                  (messages) => outbox.publishAll(messages)
                )
                : Effect.forEach(batch, (i) => Effect.flatMap(OrderPlaced.root(payloadOf(i)), (e) => outbox.publish(subject, e)), {
                  discard: true
                })
            )
          const c0 = process.cpuUsage()
          const t0 = now()
          yield* Effect.forEach(batches, write, { concurrency: writers, discard: true })
          const t1 = now()
          while ((yield* relay.stats).published < n) yield* Effect.sleep(1)
          const t2 = now()
          const cpu = cpuMicros(c0) / n
          const info = yield* Effect.promise(() => ctx.jsm.streams.info(stream))
          if (info.state.messages !== n) {
            return yield* Effect.die(new Error(`herald outbox: ${info.state.messages} stored, expected ${n}`))
          }
          return { rate: n / ((t2 - t0) / 1000), enqueue: n / ((t1 - t0) / 1000), tail: t2 - t1, cpu }
        })).pipe(
          Effect.provideContext(sqlContext),
          withIds,
          withinEffect(runTimeoutMillis, `herald outbox run ${run}`),
          Effect.orDie
        )
      )
    }
  }
}
