/**
 * Saga transitions against the cheapest exactly-once consume with a write.
 *
 * One stream, filled once (untimed), holds 4 × N messages in four phases: N
 * `OrderPlaced` (each starts a checkout saga of three steps), then the N
 * `StockReserved`, the N `PaymentCharged` and the N `OrderShipped` replies,
 * each correlated with its order. Every message is one transition that sends
 * one message (a command, or the `OrderConfirmed` of the last step). The
 * phases are N messages apart and a runner holds at most
 * `EventLog.defaultMaxAckPending(concurrency)` unacked deliveries (N is larger), so a reply is delivered only after its
 * instance's previous transition committed: the run checks that all 4 × N
 * were applied, none ignored, and N instances completed.
 *
 * - herald: `SagaRunner.run` at `concurrency` on a fresh consumer and a fresh
 *   store, timed from the start of the runner until 4 × N transitions are
 *   applied and their 4 × N outgoing messages are in the output stream (a
 *   fresh stream per run, created before the clock). The store is `SagaSql`
 *   on PostgreSQL (fresh tables per run; the outgoing messages written to a
 *   fresh outbox table in each commit's transaction and appended by an
 *   `OutboxRelay` with its defaults, started and idle before the clock), or
 *   `SagaMemory` (appending its outgoing messages itself, one at a time);
 * - baseline (the `raw` column): `EventLog.consume` at the same concurrency
 *   over the same stream with `Inbox.middleware()` around a handler that
 *   writes one row (BEGIN, INSERT inbox, INSERT row, COMMIT) on PostgreSQL,
 *   fresh tables per run, timed until 4 × N are acked.
 *
 * The ratio is the cost of the saga machinery (load, handler, commit with
 * history and processed record, outgoing message appended) against one
 * guarded write per message.
 */
import { IdGenerator } from "@herald/identity"
import { Inbox, InboxSql, InboxStore } from "@herald/inbox"
import { Outbox, OutboxMigrations, OutboxRelay, OutboxSql, OutboxStore } from "@herald/outbox"
import { Saga, SagaMemory, SagaRunner, SagaSql, SagaStore } from "@herald/saga"
import { type Envelope, EventLog, Message } from "@herald/transport"
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream"
import type * as Context from "effect/Context"
import type * as Scope from "effect/Scope"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import { type BenchContext, runTimeoutMillis, withinEffect } from "../context.ts"
import { type Case, now } from "../harness.ts"

/** How long a run may take before it stops and reports what it did. */
const deadlineMillis = Number(process.env["BENCH_SAGA_DEADLINE_MS"] ?? "30000")

const Order = Schema.Struct({ orderId: Schema.String })
const OrderPlaced = Message.event("bench.OrderPlaced", Schema.Struct({ orderId: Schema.String, total: Schema.Number }))
const ReserveStock = Message.command("bench.stock.Reserve", Order)
const StockReserved = Message.event("bench.stock.Reserved", Order)
const ChargePayment = Message.command("bench.payments.Charge", Schema.Struct({ orderId: Schema.String, amount: Schema.Number }))
const PaymentCharged = Message.event("bench.payments.Charged", Order)
const ShipOrder = Message.command("bench.shipping.Ship", Order)
const OrderShipped = Message.event("bench.shipping.Shipped", Order)
const OrderConfirmed = Message.event("bench.OrderConfirmed", Order)

/** The checkout saga of a run: its outgoing messages go to `<out>.*`. */
const checkout = (out: string) =>
  Saga.steps({
    name: "checkout",
    start: OrderPlaced,
    steps: (step) => [
      step({
        name: "stock",
        send: (ctx) => Saga.send(`${out}.stock`, ReserveStock, { orderId: ctx.start.orderId }),
        succeeded: StockReserved
      }),
      step({
        name: "payment",
        send: (ctx) => Saga.send(`${out}.payments`, ChargePayment, { orderId: ctx.start.orderId, amount: ctx.start.total }),
        succeeded: PaymentCharged
      }),
      step({
        name: "shipping",
        send: (ctx) => Saga.send(`${out}.shipping`, ShipOrder, { orderId: ctx.start.orderId }),
        succeeded: OrderShipped
      })
    ],
    completed: (ctx) => [Saga.publish(`${out}.confirmed`, OrderConfirmed, { orderId: ctx.start.orderId })]
  })

export const SAGA_STREAM = "BENCH_SAGA"

/** Fills the saga stream (untimed): N starts, then the replies of each step, phase by phase. */
export const fillSagaStream = (ctx: BenchContext) =>
  Effect.gen(function*() {
    const n = ctx.sizes.saga
    yield* Effect.promise(() =>
      ctx.jsm.streams.add({ name: SAGA_STREAM, subjects: ["bench.saga.in.>"], storage: ctx.storage })
    )
    const placed = yield* Effect.forEach(
      Array.from({ length: n }, (_, i) => i),
      (i) => OrderPlaced.root({ orderId: `o-${i}`, total: i })
    )
    const replies = (def: Message.Definition<string, "event", typeof Order>) =>
      Effect.forEach(placed, (p, i) => def.causedBy(p, { orderId: `o-${i}` }))
    const phases: ReadonlyArray<ReadonlyArray<Envelope.Envelope>> = [
      placed,
      yield* replies(StockReserved),
      yield* replies(PaymentCharged),
      yield* replies(OrderShipped)
    ]
    for (const phase of phases) {
      // In order within a phase does not matter; every phase is stored before the next.
      yield* Effect.forEach(phase, (e) => ctx.eventLog.append("bench.saga.in.x", e), {
        concurrency: ctx.sizes.window,
        discard: true
      })
    }
    const info = yield* Effect.promise(() => ctx.jsm.streams.info(SAGA_STREAM))
    if (info.state.messages !== 4 * n) {
      return yield* Effect.die(new Error(`saga stream: ${info.state.messages} stored, expected ${4 * n}`))
    }
  }).pipe(Effect.provide(IdGenerator.layer), Effect.orDie)

/** A fresh durable pull consumer on the saga stream for one run, deleted after it. */
const withSagaConsumer = <A, E, R>(ctx: BenchContext, name: string, use: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.promise(() =>
      ctx.jsm.consumers.add(SAGA_STREAM, {
        durable_name: name,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        max_ack_pending: 1_000,
        ack_wait: 30_000_000_000
      })
    ),
    () => use,
    () => Effect.promise(() => ctx.jsm.consumers.delete(SAGA_STREAM, name))
  )

/** This process's CPU time (user + system) since `c0`, in µs per message. */
const cpuPer = (c0: NodeJS.CpuUsage, messages: number) => {
  const c = process.cpuUsage(c0)
  return (c.user + c.system) / Math.max(1, messages)
}

const streamMessages = (ctx: BenchContext, stream: string) =>
  Effect.map(Effect.promise(() => ctx.jsm.streams.info(stream)), (info) => info.state.messages)

export type StoreKind = "memory" | "pg"

/** A fresh store for one run (untimed); pg: its outbox relay started in the scope. */
const freshStore = (
  ctx: BenchContext,
  kind: StoreKind,
  run: number
): Effect.Effect<SagaStore.SagaStore["Service"], unknown, SqlClient.SqlClient | Scope.Scope> =>
  kind === "memory"
    ? SagaMemory.make.pipe(Effect.provideService(EventLog.EventLog, ctx.eventLog))
    : Effect.gen(function*() {
      const table = `bench_saga_outbox_${run}`
      yield* OutboxMigrations.migrate({ table })
      const outboxStore = yield* OutboxSql.make({ table })
      const outbox = yield* Outbox.make.pipe(Effect.provideService(OutboxStore.OutboxStore, outboxStore))
      yield* OutboxRelay.make().pipe(
        Effect.provideService(OutboxStore.OutboxStore, outboxStore),
        Effect.provideService(EventLog.EventLog, ctx.eventLog)
      )
      return yield* SagaSql.make({ prefix: `bench_saga_${run}` }).pipe(Effect.provideService(Outbox.Outbox, outbox))
    })

export const sagaTransitions = (
  ctx: BenchContext,
  kind: StoreKind,
  concurrency: number,
  sqlContext: Context.Context<SqlClient.SqlClient>
): Case => {
  const n = ctx.sizes.saga
  const total = 4 * n
  const held = EventLog.defaultMaxAckPending(concurrency)
  if (n <= held) {
    // A reply could then be handled before its instance's previous transition: the run would not be 4 × N transitions.
    throw new Error(`the saga row needs more sagas (${n}) than a runner holds deliveries (${held})`)
  }
  return {
    title:
      `saga transitions (${kind === "pg" ? "SagaSql on pg, outbox relay" : "memory store"}), ${n} sagas × 4 transitions, SagaRunner concurrency ${concurrency}; baseline Inbox.middleware + one row write (pg), concurrency ${concurrency}`,
    raw: (run) =>
      withSagaConsumer(
        ctx,
        `baseline_${kind}_${run}`,
        Effect.scoped(Effect.gen(function*() {
          // Untimed: fresh tables.
          const sql = yield* SqlClient.SqlClient
          const rows = `bench_saga_${kind}_rows_${run}`
          yield* sql`CREATE TABLE ${sql(rows)} (message_id TEXT PRIMARY KEY, n INTEGER NOT NULL)`
          const store = yield* InboxSql.make({ table: `bench_saga_${kind}_inbox_${run}` })
          const handler = Inbox.middleware()((d: EventLog.Delivery) =>
            sql`INSERT INTO ${sql(rows)} (message_id, n) VALUES (${d.envelope.identity.messageId}, 1)`
          )
          const c0 = process.cpuUsage()
          const t0 = now()
          const handle = yield* ctx.eventLog.consume(SAGA_STREAM, `baseline_${kind}_${run}`, handler, { concurrency }).pipe(
            Effect.provideService(InboxStore.InboxStore, store)
          )
          const deadline = t0 + deadlineMillis
          let acked = 0
          while ((acked = (yield* handle.stats).acked) < total && now() < deadline) yield* Effect.sleep(1)
          const t1 = now()
          const [{ count }] = yield* sql<{ readonly count: number }>`SELECT count(*)::int AS count FROM ${sql(rows)}`
          if (acked >= total && count !== total) {
            return yield* Effect.die(new Error(`baseline: ${count} rows written, expected ${total}`))
          }
          return {
            rate: Math.min(acked, total) / ((t1 - t0) / 1000),
            complete: acked >= total ? 1 : 0,
            acked,
            cpuMicros: cpuPer(c0, acked)
          }
        })).pipe(
          Effect.provideContext(sqlContext),
          withinEffect(runTimeoutMillis, `baseline saga run ${run}`),
          Effect.orDie
        )
      ),
    herald: (run) => {
      const out = `bench.saga.out.${kind}.${run}`
      const outStream = `BENCH_SAGA_OUT_${kind}_${run}`
      const consumer = `saga_${kind}_${run}`
      return withSagaConsumer(
        ctx,
        consumer,
        Effect.acquireUseRelease(
          Effect.promise(() => ctx.jsm.streams.add({ name: outStream, subjects: [`${out}.>`], storage: ctx.storage })),
          () =>
            Effect.scoped(Effect.gen(function*() {
              // Untimed: a fresh store.
              const store = yield* freshStore(ctx, kind, run)
              const c0 = process.cpuUsage()
              const t0 = now()
              const runner = yield* SagaRunner.run(checkout(out), {
                stream: SAGA_STREAM,
                consumer,
                concurrency
              }).pipe(Effect.provideService(SagaStore.SagaStore, store))
              const deadline = t0 + deadlineMillis
              while ((yield* runner.stats).applied < total && now() < deadline) yield* Effect.sleep(1)
              let sent = 0
              while ((sent = yield* streamMessages(ctx, outStream)) < total && now() < deadline) yield* Effect.sleep(5)
              const t1 = now()
              const stats = yield* runner.stats
              const completed = (yield* store.list({ saga: "checkout", status: "completed", limit: n + 1 })).length
              const complete = stats.applied >= total && sent >= total
              if (complete && (stats.applied !== total || stats.ignored !== 0 || completed !== n || sent !== total)) {
                return yield* Effect.die(
                  new Error(
                    `saga run ${run}: applied ${stats.applied}, ignored ${stats.ignored}, completed ${completed}, sent ${sent}; expected ${total}, 0, ${n}, ${total}`
                  )
                )
              }
              return {
                rate: Math.min(stats.applied, total) / ((t1 - t0) / 1000),
                complete: complete ? 1 : 0,
                applied: stats.applied,
                cpuMicros: cpuPer(c0, stats.applied)
              }
            })).pipe(Effect.provideService(EventLog.EventLog, ctx.eventLog), Effect.provideContext(sqlContext)),
          () => Effect.promise(() => ctx.jsm.streams.delete(outStream))
        ).pipe(withinEffect(runTimeoutMillis, `herald saga run ${run}`), Effect.orDie)
      )
    }
  }
}
