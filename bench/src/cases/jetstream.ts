/**
 * JetStream: append throughput (sequential and pipelined) and consume + ack
 * throughput.
 */
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream"
import type { MsgHdrs } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import { type BenchContext, runTimeoutMillis, within, withinEffect } from "../context.ts"
import { body, envelopes, natsHeadersOf } from "../fixtures.ts"
import { type Case, now } from "../harness.ts"
import type { Envelope } from "@herald/transport"

const MESSAGE_ID = "Herald-Message-Id"

/**
 * How long a Herald consume run may take before it stops and reports the
 * rate of what it acked (it is then flagged incomplete).
 */
const consumeDeadlineMillis = Number(process.env["BENCH_CONSUME_DEADLINE_MS"] ?? "5000")

/** A fresh stream for one run, deleted after it. */
export const withStream = <A, E, R>(
  ctx: BenchContext,
  name: string,
  subjects: ReadonlyArray<string>,
  use: Effect.Effect<A, E, R>
) =>
  Effect.acquireUseRelease(
    Effect.promise(() => ctx.jsm.streams.add({ name, subjects: [...subjects], storage: ctx.storage })),
    () => use,
    () => Effect.promise(() => ctx.jsm.streams.delete(name))
  )

/** Sends exactly what Herald sends for each envelope: its headers built once, the ids set per message. */
export const rawAppender = (ctx: BenchContext, messages: ReadonlyArray<Envelope.Envelope>) => {
  const headers: MsgHdrs = natsHeadersOf(messages[0]!)
  return (subject: string, i: number) => {
    const id = messages[i]!.identity.messageId
    headers.set(MESSAGE_ID, id)
    // `msgID` sets `Nats-Msg-Id`; nats.js encodes the headers before `publish` first awaits.
    return ctx.js.publish(subject, body, { msgID: id, headers })
  }
}

/** Runs `f(i)` for i in [0, n) with at most `window` promises in flight. */
export const pipelined = async (n: number, window: number, f: (i: number) => Promise<unknown>) => {
  let next = 0
  const lane = async () => {
    while (next < n) await f(next++)
  }
  await Promise.all(Array.from({ length: Math.min(window, n) }, lane))
}

/** `append`: each message awaited (`window` 1) or `window` in flight. */
export const append = (ctx: BenchContext, mode: "sequential" | "pipelined"): Case => {
  const n = mode === "sequential" ? ctx.sizes.appendSequential : ctx.sizes.appendPipelined
  const window = mode === "sequential" ? 1 : ctx.sizes.window
  // Fresh ids per run: a stream is new per run, but ids stay distinct anyway.
  const batches = new Map<string, ReadonlyArray<Envelope.Envelope>>()
  const messagesOf = (key: string) => {
    let m = batches.get(key)
    if (m === undefined) {
      m = envelopes(n)
      batches.set(key, m)
    }
    return m
  }
  const tag = mode === "sequential" ? "seq" : "pipe"
  return {
    title: `JetStream append ${mode}, ${n} messages${window > 1 ? `, ${window} in flight` : ""}`,
    raw: (run) => {
      const stream = `BENCH_APPEND_${tag}_RAW_${run}`
      const subject = `bench.append.${tag}.raw.${run}.orders`
      const messages = messagesOf(`raw${run}`)
      return withStream(ctx, stream, [`bench.append.${tag}.raw.${run}.>`], Effect.promise(async () => {
        const send = rawAppender(ctx, messages)
        const t0 = now()
        await within(runTimeoutMillis, `raw append run ${run}`, window === 1
          ? (async () => {
            for (let i = 0; i < n; i++) await send(subject, i)
          })()
          : pipelined(n, window, (i) => send(subject, i)))
        const t1 = now()
        const info = await ctx.jsm.streams.info(stream)
        if (info.state.messages !== n) throw new Error(`raw append: ${info.state.messages} stored, expected ${n}`)
        return { rate: n / ((t1 - t0) / 1000) }
      }))
    },
    herald: (run) => {
      const stream = `BENCH_APPEND_${tag}_HERALD_${run}`
      const subject = `bench.append.${tag}.herald.${run}.orders`
      const messages = messagesOf(`herald${run}`)
      return withStream(ctx, stream, [`bench.append.${tag}.herald.${run}.>`], Effect.gen(function*() {
        const { eventLog } = ctx
        const t0 = now()
        yield* Effect.forEach(messages, (e) => eventLog.append(subject, e), { concurrency: window, discard: true }).pipe(
          withinEffect(runTimeoutMillis, `herald append run ${run}`)
        )
        const t1 = now()
        const info = yield* Effect.promise(() => ctx.jsm.streams.info(stream))
        if (info.state.messages !== n) {
          return yield* Effect.die(new Error(`herald append: ${info.state.messages} stored, expected ${n}`))
        }
        return { rate: n / ((t1 - t0) / 1000) }
      }))
    }
  }
}

/** The stream every consume run reads, filled once before the consume cases (not timed). */
export const CONSUME_STREAM = "BENCH_CONSUME"

export const fillConsumeStream = (ctx: BenchContext) =>
  Effect.promise(async () => {
    const n = ctx.sizes.consume
    await ctx.jsm.streams.add({ name: CONSUME_STREAM, subjects: ["bench.consume.>"], storage: ctx.storage })
    const send = rawAppender(ctx, envelopes(n))
    await pipelined(n, ctx.sizes.window, (i) => send("bench.consume.orders", i))
    const info = await ctx.jsm.streams.info(CONSUME_STREAM)
    if (info.state.messages !== n) throw new Error(`consume stream: ${info.state.messages} stored, expected ${n}`)
  })

/** A fresh durable pull consumer for one run (explicit acks, from the first message), deleted after it. */
export const withConsumer = <A, E, R>(ctx: BenchContext, name: string, use: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.promise(() =>
      ctx.jsm.consumers.add(CONSUME_STREAM, {
        durable_name: name,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        max_ack_pending: 1_000,
        ack_wait: 30_000_000_000
      })
    ),
    () => use,
    () => Effect.promise(() => ctx.jsm.consumers.delete(CONSUME_STREAM, name))
  )

/**
 * Reads the whole stream through a fresh consumer and acks every message.
 *
 * - raw: `js.consumers.get` + `consume()` (nats.js defaults: 100 messages
 *   buffered) and `m.ack()` (fire and forget), or `await m.ackAck()`
 *   (the server confirms each ack, as Herald's ack does) when `rawAck` is
 *   `"ackAck"`; timed until the last ack is sent and the connection flushed.
 * - herald: `EventLog.consume` with a no-op handler at `concurrency`, timed
 *   until `stats.acked` reaches N.
 */
export const consume = (
  ctx: BenchContext,
  concurrency: number,
  rawAck: "ack" | "ackAck",
  /** Messages read per run (the first `n` of the stream; default: all of it). */
  n: number = ctx.sizes.consume
): Case => {
  const tag = `c${concurrency}_${rawAck}`
  return {
    title: `JetStream consume + ack, ${n} messages, herald concurrency ${concurrency}, raw ${
      rawAck === "ack" ? "m.ack()" : "await m.ackAck()"
    }`,
    raw: (run) =>
      withConsumer(ctx, `raw_${tag}_${run}`, Effect.promise(async () => {
        const t0 = now()
        const consumer = await ctx.js.consumers.get(CONSUME_STREAM, `raw_${tag}_${run}`)
        const messages = await consumer.consume()
        let count = 0
        await within(runTimeoutMillis, `raw consume run ${run}`, (async () => {
          for await (const m of messages) {
            if (rawAck === "ack") m.ack()
            else await m.ackAck()
            if (++count === n) break
          }
          await ctx.nc.flush()
        })())
        const t1 = now()
        await messages.close()
        if (count !== n) throw new Error(`raw consume: ${count} acked, expected ${n}`)
        return { rate: n / ((t1 - t0) / 1000) }
      })),
    herald: (run) =>
      withConsumer(
        ctx,
        `herald_${tag}_${run}`,
        Effect.scoped(Effect.gen(function*() {
          const t0 = now()
          const handle = yield* ctx.eventLog.consume(CONSUME_STREAM, `herald_${tag}_${run}`, () => Effect.void, {
            concurrency
          })
          const deadline = t0 + consumeDeadlineMillis
          let acked = 0
          while ((acked = (yield* handle.stats).acked) < n && now() < deadline) yield* Effect.sleep(1)
          const t1 = now()
          // A run that cannot finish in time reports what it did: acked / elapsed.
          return { rate: acked / ((t1 - t0) / 1000), complete: acked === n ? 1 : 0, acked }
        })).pipe(withinEffect(runTimeoutMillis, `herald consume run ${run}`))
      )
  }
}
