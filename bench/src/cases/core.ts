/**
 * Core NATS: publish + subscribe throughput, request/reply latency, and the
 * cost of building one envelope.
 *
 * Every side builds each message inside the timed loop, as a user does:
 * Herald with `OrderPlaced.root(payload)` (the top README's way), raw nats.js
 * with a fresh UUID, the same eight headers and `JSON.stringify`
 * (`fixtures.ts` `rawOut`); the bare side (raw without Herald's headers)
 * with `JSON.stringify` only. Every receiver parses the JSON body and reads
 * the ids (Herald: the definition's `decode` and `envelope.identity`).
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { type BenchContext, runTimeoutMillis, within, withinEffect } from "../context.ts"
import {
  bareIn,
  bareOut,
  GetOrder,
  heraldIn,
  heraldInAs,
  OrderPlaced,
  OrderReply,
  payloadOf,
  rawIn,
  rawOut,
  sink,
  withIds
} from "../fixtures.ts"
import { type Case, cpuMicros, minMillis, now, quantile } from "../harness.ts"

/** Messages published between two yields to the event loop (both sides). */
const BATCH = 1_000

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Waits (1 ms polls) until `done()`; the poll adds at most about 1 ms to a run of at least `minMillis`. */
const until = async (done: () => boolean) => {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 1))
}

/**
 * Messages published in batches of 1,000 until `minMillis` has passed, and
 * counted (parsed, ids read) at a subscriber on the same connection; from
 * the first publish to the last receive. `cpu`: this process's CPU µs per
 * message (both ends of every message are in this process).
 */
export const pubsub = (ctx: BenchContext): Case => {
  const rawSide = (run: number, bare: boolean) =>
    Effect.promise(async () => {
      const { nc } = ctx
      const subject = `bench.core.${bare ? "bare" : "raw"}.${run}`
      let received = 0
      const sub = nc.subscribe(subject, {
        callback: (error, m) => {
          if (error !== null) return
          if (bare) bareIn(m)
          else rawIn(m)
          received++
        }
      })
      await nc.flush()
      let sent = 0
      const c0 = process.cpuUsage()
      const t0 = now()
      while (now() - t0 < minMillis) {
        for (let i = 0; i < BATCH; i++, sent++) {
          if (bare) nc.publish(subject, bareOut(payloadOf(sent)))
          else {
            const m = rawOut("event", OrderPlaced.type, payloadOf(sent))
            nc.publish(subject, m.data, { headers: m.headers })
          }
        }
        await yieldToLoop()
      }
      await within(runTimeoutMillis, `raw pubsub run ${run} (${received}/${sent} received)`, until(() => received === sent))
      const t1 = now()
      const cpu = cpuMicros(c0) / sent
      sub.unsubscribe()
      return { rate: sent / ((t1 - t0) / 1000), n: sent, cpu }
    })
  return {
    title: `core publish + subscribe, batches of ${BATCH} for at least ${minMillis} ms`,
    raw: (run) => rawSide(run, false),
    bare: (run) => rawSide(run, true),
    herald: (run) =>
      Effect.scoped(Effect.gen(function*() {
        const { bus } = ctx
        const subject = `bench.core.herald.${run}`
        const stream = yield* bus.subscribe(subject)
        let received = 0
        yield* Effect.forkChild(Stream.runForEach(stream, (r) => Effect.map(heraldIn(r.envelope), () => void received++)))
        let sent = 0
        const publishOne = () => Effect.flatMap(OrderPlaced.root(payloadOf(sent++)), (e) => bus.publish(subject, e))
        const c0 = process.cpuUsage()
        const t0 = now()
        while (now() - t0 < minMillis) {
          for (let i = 0; i < BATCH; i++) yield* publishOne()
          yield* Effect.promise(yieldToLoop)
        }
        yield* Effect.promise(() => until(() => received === sent))
        const t1 = now()
        return { rate: sent / ((t1 - t0) / 1000), n: sent, cpu: cpuMicros(c0) / sent }
      })).pipe(withIds, withinEffect(runTimeoutMillis, `herald pubsub run ${run}`))
  }
}

/**
 * Sequential requests answered by a responder on the same connection, until
 * `minMillis` has passed; each request and each reply built per message,
 * parsed and its ids read on the other side.
 */
export const requestReply = (ctx: BenchContext): Case => {
  const latencies = (xs: Array<number>) => ({ p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), n: xs.length })
  const rawSide = (run: number, bare: boolean) =>
    Effect.promise(async () => {
      const { nc } = ctx
      const subject = `bench.rr.${bare ? "bare" : "raw"}.${run}`
      let i = 0
      const sub = nc.subscribe(subject, {
        callback: (error, msg) => {
          if (error !== null) return
          if (bare) {
            bareIn(msg)
            msg.respond(bareOut(payloadOf(i)))
          } else {
            const parent = rawIn(msg)
            const reply = rawOut("reply", OrderReply.type, payloadOf(i), parent)
            msg.respond(reply.data, { headers: reply.headers })
          }
        }
      })
      await nc.flush()
      const xs: Array<number> = []
      await within(runTimeoutMillis, `raw request run ${run}`, (async () => {
        const start = now()
        while (now() - start < minMillis) {
          const t0 = now()
          if (bare) {
            bareIn(await nc.request(subject, bareOut(payloadOf(i++)), { timeout: 5_000 }))
          } else {
            const m = rawOut("query", GetOrder.type, payloadOf(i++))
            rawIn(await nc.request(subject, m.data, { headers: m.headers, timeout: 5_000 }))
          }
          xs.push(now() - t0)
        }
      })())
      sub.unsubscribe()
      return latencies(xs)
    })
  return {
    title: `request/reply, sequential requests for at least ${minMillis} ms`,
    raw: (run) => rawSide(run, false),
    bare: (run) => rawSide(run, true),
    herald: (run) =>
      Effect.scoped(Effect.gen(function*() {
        const { bus } = ctx
        const subject = `bench.rr.herald.${run}`
        let i = 0
        yield* bus.serve(subject, (request) =>
          Effect.flatMap(heraldInAs(GetOrder, request.envelope), () => OrderReply.causedBy(request.envelope, payloadOf(i))))
        const xs: Array<number> = []
        const start = now()
        while (now() - start < minMillis) {
          const t0 = now()
          const request = yield* GetOrder.root(payloadOf(i++))
          yield* heraldInAs(OrderReply, yield* bus.request(subject, request))
          xs.push(now() - t0)
        }
        return latencies(xs)
      })).pipe(withIds, withinEffect(runTimeoutMillis, `herald request run ${run}`))
  }
}

/**
 * Building one message, in batches of 1,000 until `minMillis` has passed:
 * Herald's `OrderPlaced.root(payload)` (id, Schema encode, JSON, envelope)
 * against raw nats.js's `rawOut` (UUID, eight headers, `JSON.stringify`).
 * µs per message.
 */
export const envelopeCreation = (_ctx: BenchContext): Case => ({
  title: `envelope creation, batches of ${BATCH} for at least ${minMillis} ms`,
  raw: () =>
    Effect.sync(() => {
      let n = 0
      let keep = 0
      const t0 = now()
      while (now() - t0 < minMillis) {
        for (let i = 0; i < BATCH; i++, n++) keep += rawOut("event", OrderPlaced.type, payloadOf(n)).data.length
      }
      const t1 = now()
      return { us: ((t1 - t0) * 1000) / n, n, keep: keep + sink }
    }),
  herald: () =>
    Effect.gen(function*() {
      let n = 0
      let keep = 0
      const t0 = now()
      while (now() - t0 < minMillis) {
        for (let i = 0; i < BATCH; i++, n++) keep += (yield* OrderPlaced.root(payloadOf(n))).body.length
      }
      const t1 = now()
      return { us: ((t1 - t0) * 1000) / n, n, keep }
    }).pipe(withIds)
})
