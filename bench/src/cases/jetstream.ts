/**
 * JetStream: append throughput (sequential and pipelined) and consume + ack
 * throughput.
 */
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream"
import { headers as natsHeaders } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import { randomUUID } from "node:crypto"
import { type BenchContext, runTimeoutMillis, within, withinEffect } from "../context.ts"
import { bareIn, bareOut, heraldIn, OrderPlaced, payloadOf, rawIn, rawOf, rawOut, withIds } from "../fixtures.ts"
import { type Case, cpuMicros, minMillis, now } from "../harness.ts"

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

/** Raw nats.js appending message `i` as a user builds it: `rawOut` (a fresh id, Herald's eight headers, JSON), `msgID` = its id. */
export const rawAppender = (ctx: BenchContext) => (subject: string, i: number) => {
  const m = rawOut("event", OrderPlaced.type, payloadOf(i))
  return ctx.js.publish(subject, m.data, { msgID: m.id, headers: m.headers })
}

/** Runs `f(i)` for i in [0, n) with at most `window` promises in flight. */
export const pipelined = async (n: number, window: number, f: (i: number) => Promise<unknown>) => {
  let next = 0
  const lane = async () => {
    while (next < n) await f(next++)
  }
  await Promise.all(Array.from({ length: Math.min(window, n) }, lane))
}

/** Runs `f(i)` for i = 0, 1, ... with `window` lanes until `millis` have passed; returns how many ran. */
export const pipelinedFor = async (millis: number, window: number, f: (i: number) => Promise<unknown>) => {
  let next = 0
  const t0 = now()
  const lane = async () => {
    while (now() - t0 < millis) await f(next++)
  }
  await Promise.all(Array.from({ length: window }, lane))
  return next
}

/**
 * `append`: each message awaited (`window` 1) or `window` in flight, until
 * `minMillis` has passed; every message built in the loop (Herald:
 * `OrderPlaced.root`; raw: `rawOut`, `msgID` = its id; bare: the body and a
 * `msgID`, so that the server dedupes on it as on the others).
 */
export const append = (ctx: BenchContext, mode: "sequential" | "pipelined"): Case => {
  const window = mode === "sequential" ? 1 : ctx.sizes.window
  const tag = mode === "sequential" ? "seq" : "pipe"
  const rawSide = (run: number, bare: boolean) => {
    const side = bare ? "BARE" : "RAW"
    const rawAppend = rawAppender(ctx)
    const stream = `BENCH_APPEND_${tag}_${side}_${run}`
    const subject = `bench.append.${tag}.${side.toLowerCase()}.${run}.orders`
    const send = (i: number) => {
      if (bare) return ctx.js.publish(subject, bareOut(payloadOf(i)), { msgID: randomUUID() })
      return rawAppend(subject, i)
    }
    return withStream(ctx, stream, [`bench.append.${tag}.${side.toLowerCase()}.${run}.>`], Effect.promise(async () => {
      const t0 = now()
      const n = await within(runTimeoutMillis, `${side} append run ${run}`, pipelinedFor(minMillis, window, send))
      const t1 = now()
      const info = await ctx.jsm.streams.info(stream)
      if (info.state.messages !== n) throw new Error(`${side} append: ${info.state.messages} stored, expected ${n}`)
      return { rate: n / ((t1 - t0) / 1000), n }
    }))
  }
  return {
    title: `JetStream append ${mode}${window > 1 ? `, ${window} in flight` : ""}, for at least ${minMillis} ms`,
    raw: (run) => rawSide(run, false),
    bare: (run) => rawSide(run, true),
    herald: (run) => {
      const stream = `BENCH_APPEND_${tag}_HERALD_${run}`
      const subject = `bench.append.${tag}.herald.${run}.orders`
      return withStream(ctx, stream, [`bench.append.${tag}.herald.${run}.>`], Effect.gen(function*() {
        const { eventLog } = ctx
        let n = 0
        const t0 = now()
        const lane = Effect.whileLoop({
          while: () => now() - t0 < minMillis,
          body: () => Effect.flatMap(OrderPlaced.root(payloadOf(n++)), (e) => eventLog.append(subject, e)),
          step: () => {}
        })
        yield* Effect.forEach(Array.from({ length: window }), () => lane, { concurrency: window, discard: true }).pipe(
          withIds,
          withinEffect(runTimeoutMillis, `herald append run ${run}`)
        )
        const t1 = now()
        const info = yield* Effect.promise(() => ctx.jsm.streams.info(stream))
        if (info.state.messages !== n) {
          return yield* Effect.die(new Error(`herald append: ${info.state.messages} stored, expected ${n}`))
        }
        return { rate: n / ((t1 - t0) / 1000), n }
      }))
    }
  }
}

/** The stream every consume run reads (Herald envelopes), filled once before the consume cases (not timed). */
export const CONSUME_STREAM = "BENCH_CONSUME"
/** The same messages without Herald's headers (the bare side of the consume rows). */
export const CONSUME_BARE_STREAM = "BENCH_CONSUME_BARE"

/**
 * Fills both consume streams (untimed): `sizes.consume` messages each, the
 * first with the headers and bodies of `OrderPlaced.root` envelopes, the
 * second with the bodies only.
 */
export const fillConsumeStream = (ctx: BenchContext) =>
  Effect.gen(function*() {
    const n = ctx.sizes.consume
    const envelopes = yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => OrderPlaced.root(payloadOf(i)))
      .pipe(withIds)
    yield* Effect.promise(async () => {
      await ctx.jsm.streams.add({ name: CONSUME_STREAM, subjects: ["bench.consume.>"], storage: ctx.storage })
      await ctx.jsm.streams.add({ name: CONSUME_BARE_STREAM, subjects: ["bench.consumebare.>"], storage: ctx.storage })
      await pipelined(n, ctx.sizes.window, (i) => {
        const raw = rawOf(envelopes[i]!)
        const h = natsHeaders()
        for (const name in raw.headers) h.set(name, raw.headers[name]!)
        return ctx.js.publish("bench.consume.orders", raw.body, { headers: h })
      })
      await pipelined(n, ctx.sizes.window, (i) => ctx.js.publish("bench.consumebare.orders", envelopes[i]!.body))
      for (const name of [CONSUME_STREAM, CONSUME_BARE_STREAM]) {
        const info = await ctx.jsm.streams.info(name)
        if (info.state.messages !== n) throw new Error(`${name}: ${info.state.messages} stored, expected ${n}`)
      }
    })
  })

/** A fresh durable pull consumer for one run (explicit acks, from the first message), deleted after it. */
export const withConsumer = <A, E, R>(
  ctx: BenchContext,
  name: string,
  use: Effect.Effect<A, E, R>,
  stream: string = CONSUME_STREAM
) =>
  Effect.acquireUseRelease(
    Effect.promise(() =>
      ctx.jsm.consumers.add(stream, {
        durable_name: name,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        max_ack_pending: 1_000,
        ack_wait: 30_000_000_000
      })
    ),
    () => use,
    () => Effect.promise(() => ctx.jsm.consumers.delete(stream, name))
  )

/**
 * Reads the consume stream through a fresh consumer and acks every message,
 * for at least `minMillis` (or, with `n`, exactly its first `n` messages).
 *
 * - raw: `js.consumers.get` + `consume()` (nats.js defaults: 100 messages
 *   buffered), per message `m.json()` and the three ids read, then `m.ack()`
 *   (fire and forget), or `await m.ackAck()` (the server confirms each ack,
 *   as Herald's ack does) when `rawAck` is `"ackAck"`; timed until the last
 *   ack is sent and the connection flushed.
 * - bare: the same over the stream without Herald's headers, `m.json()` only.
 * - herald: `EventLog.consume` with a handler that decodes the payload
 *   (`OrderPlaced.decode`) and reads the ids, with `options` (`{}`: the
 *   defaults); timed until `stats.acked` reaches n, or, in the time mode, the
 *   first poll after `minMillis` (rate = acked / elapsed).
 */
export const consume = (
  ctx: BenchContext,
  options: { readonly concurrency?: number; readonly maxAckPending?: number },
  rawAck: "ack" | "ackAck",
  /** Messages read per run (the first `n` of the stream); default: as many as `minMillis` takes. */
  n?: number
): Case => {
  const tag = `c${options.concurrency ?? "d"}_m${options.maxAckPending ?? "d"}_${rawAck}`
  const enough = (count: number, t0: number) => n === undefined ? now() - t0 >= minMillis : count === n
  const rawSide = (run: number, bare: boolean) => {
    const name = `${bare ? "bare" : "raw"}_${tag}_${run}`
    const stream = bare ? CONSUME_BARE_STREAM : CONSUME_STREAM
    return withConsumer(ctx, name, Effect.promise(async () => {
      const c0 = process.cpuUsage()
      const t0 = now()
      const consumer = await ctx.js.consumers.get(stream, name)
      const messages = await consumer.consume()
      let count = 0
      await within(runTimeoutMillis, `raw consume run ${run}`, (async () => {
        for await (const m of messages) {
          if (bare) bareIn(m)
          else rawIn(m)
          if (rawAck === "ack") m.ack()
          else await m.ackAck()
          if (enough(++count, t0) || count === ctx.sizes.consume) break
        }
        await ctx.nc.flush()
      })())
      const t1 = now()
      await messages.close()
      if (n !== undefined && count !== n) throw new Error(`raw consume: ${count} acked, expected ${n}`)
      return { rate: count / ((t1 - t0) / 1000), n: count, cpu: cpuMicros(c0) / count }
    }), stream)
  }
  return {
    title: `JetStream consume + ack, ${n ?? `at least ${minMillis} ms`}, herald ${
      options.concurrency === undefined && options.maxAckPending === undefined
        ? "default options"
        : JSON.stringify(options)
    }, raw ${rawAck === "ack" ? "m.ack()" : "await m.ackAck()"}`,
    raw: (run) => rawSide(run, false),
    bare: rawAck === "ack" && n === undefined ? (run) => rawSide(run, true) : undefined,
    herald: (run) =>
      withConsumer(
        ctx,
        `herald_${tag}_${run}`,
        Effect.scoped(Effect.gen(function*() {
          const c0 = process.cpuUsage()
          const t0 = now()
          const handle = yield* ctx.eventLog.consume(
            CONSUME_STREAM,
            `herald_${tag}_${run}`,
            (delivery) => heraldIn(delivery.envelope),
            options
          )
          const deadline = t0 + consumeDeadlineMillis
          let acked = 0
          while (!enough(acked = (yield* handle.stats).acked, t0) && acked < ctx.sizes.consume && now() < deadline) {
            yield* Effect.sleep(1)
          }
          const t1 = now()
          const complete = n === undefined ? acked > 0 : acked >= n
          // A run that cannot finish in time reports what it did: acked / elapsed.
          return { rate: acked / ((t1 - t0) / 1000), complete: complete ? 1 : 0, n: acked, cpu: cpuMicros(c0) / acked }
        })).pipe(withinEffect(runTimeoutMillis, `herald consume run ${run}`))
      )
  }
}
