/**
 * Core NATS: publish + subscribe throughput, and request/reply latency.
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { type BenchContext, runTimeoutMillis, within, withinEffect } from "../context.ts"
import { body, envelope, natsHeadersOf, rawOf } from "../fixtures.ts"
import { type Case, now, quantile } from "../harness.ts"

/**
 * N messages published and counted at a subscriber on the same connection,
 * from the first publish to the last receive.
 */
export const pubsub = (ctx: BenchContext): Case => {
  const n = ctx.sizes.pubsub
  const event = envelope("event")
  const headers = natsHeadersOf(event)
  const indexes = Array.from({ length: n }, (_, i) => i)
  return {
    title: `core publish + subscribe, ${n} messages`,
    raw: (run) =>
      Effect.promise(async () => {
        const { nc } = ctx
        const subject = `bench.core.raw.${run}`
        let count = 0
        let done!: () => void
        const received = new Promise<void>((resolve) => {
          done = resolve
        })
        const sub = nc.subscribe(subject, {
          callback: (error) => {
            if (error === null && ++count === n) done()
          }
        })
        await nc.flush()
        const t0 = now()
        for (let i = 0; i < n; i++) nc.publish(subject, body, { headers })
        await within(runTimeoutMillis, `raw pubsub run ${run} (${count}/${n} received)`, received)
        const t1 = now()
        sub.unsubscribe()
        return { rate: n / ((t1 - t0) / 1000) }
      }),
    herald: (run) =>
      Effect.scoped(Effect.gen(function*() {
        const { bus } = ctx
        const subject = `bench.core.herald.${run}`
        const stream = yield* bus.subscribe(subject)
        const reader = yield* Effect.forkChild(Stream.runDrain(Stream.take(stream, n)))
        const t0 = now()
        yield* Effect.forEach(indexes, () => bus.publish(subject, event), { discard: true })
        yield* Fiber.join(reader)
        const t1 = now()
        return { rate: n / ((t1 - t0) / 1000) }
      })).pipe(withinEffect(runTimeoutMillis, `herald pubsub run ${run}`))
  }
}

/** Sequential requests answered by a responder on the same connection. */
export const requestReply = (ctx: BenchContext): Case => {
  const n = ctx.sizes.requests
  const request = envelope("query", "bench.GetOrder")
  const reply = envelope("reply", "bench.Order")
  const requestHeaders = natsHeadersOf(request)
  const replyHeaders = natsHeadersOf(reply)
  const replyBody = rawOf(reply).body
  const latencies = (xs: Float64Array) => ({ p50: quantile(xs, 0.5), p99: quantile(xs, 0.99) })
  return {
    title: `request/reply, ${n} sequential requests`,
    raw: (run) =>
      Effect.promise(async () => {
        const { nc } = ctx
        const subject = `bench.rr.raw.${run}`
        const sub = nc.subscribe(subject, {
          callback: (error, msg) => {
            if (error === null) msg.respond(replyBody, { headers: replyHeaders })
          }
        })
        await nc.flush()
        const xs = new Float64Array(n)
        await within(runTimeoutMillis, `raw request run ${run}`, (async () => {
          for (let i = 0; i < n; i++) {
            const t0 = now()
            await nc.request(subject, body, { headers: requestHeaders, timeout: 5_000 })
            xs[i] = now() - t0
          }
        })())
        sub.unsubscribe()
        return latencies(xs)
      }),
    herald: (run) =>
      Effect.scoped(Effect.gen(function*() {
        const { bus } = ctx
        const subject = `bench.rr.herald.${run}`
        yield* bus.serve(subject, () => Effect.succeed(reply))
        const xs = new Float64Array(n)
        for (let i = 0; i < n; i++) {
          const t0 = now()
          yield* bus.request(subject, request)
          xs[i] = now() - t0
        }
        return latencies(xs)
      })).pipe(withinEffect(runTimeoutMillis, `herald request run ${run}`))
  }
}
