/**
 * Where the p99 of request/reply comes from: N sequential requests
 * (raw → raw and Herald → Herald, as in `request.ts`), with every
 * garbage collection of the process recorded (`PerformanceObserver`,
 * entry type `gc`); prints p50 / p99, the requests slower than 0.5 ms and
 * how many of them overlap a GC pause, the scavenges per 1,000 requests, and
 * the process's CPU time per request (both sides are in this process).
 *
 *   node --conditions=@herald/source src/micro/request-tail.ts
 */
import * as Effect from "effect/Effect"
import { type PerformanceEntry, PerformanceObserver } from "node:perf_hooks"
import { body, envelope, natsHeadersOf, rawOf } from "../fixtures.ts"
import { now, quantile } from "../harness.ts"
import { withClients } from "./server.ts"

const N = Number(process.env["N"] ?? "5000")
const SLOW_MS = 0.5
const request = envelope("query", "bench.GetOrder")
const reply = envelope("reply", "bench.Order")
const requestHeaders = natsHeadersOf(request)
const replyHeaders = natsHeadersOf(reply)
const replyBody = rawOf(reply).body

const gcs: Array<{ start: number; end: number; kind: number }> = []
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const detail = (e as PerformanceEntry & { readonly detail?: { readonly kind: number } }).detail
    gcs.push({ start: e.startTime, end: e.startTime + e.duration, kind: detail?.kind ?? 0 })
  }
}).observe({ entryTypes: ["gc"] })

const summary = (name: string, spans: ReadonlyArray<readonly [number, number]>, cpuMicros: number) => {
  const xs = spans.map(([a, b]) => b - a)
  const first = spans[0]![0]
  const last = spans[spans.length - 1]![1]
  const pauses = gcs.filter((g) => g.end >= first && g.start <= last)
  const slow = spans.filter(([a, b]) => b - a > SLOW_MS)
  const slowInGc = slow.filter(([a, b]) => pauses.some((g) => g.end >= a && g.start <= b))
  const scavenges = pauses.filter((g) => g.kind === 1).length
  console.log(
    `${name.padEnd(18)} p50 ${quantile(xs, 0.5).toFixed(3)}  p99 ${quantile(xs, 0.99).toFixed(3)} ms  ` +
      `> ${SLOW_MS} ms: ${slow.length} (${slowInGc.length} during a GC)  ` +
      `GCs ${pauses.length} (${(scavenges * 1000 / spans.length).toFixed(1)} scavenges / 1000 requests, ` +
      `${pauses.reduce((s, g) => s + g.end - g.start, 0).toFixed(1)} ms)  ` +
      `${(cpuMicros / spans.length).toFixed(1)} µs CPU / request (this process)`
  )
}

await withClients(({ bus, nc }) =>
  Effect.gen(function*() {
    let k = 0
    const raw = Effect.promise(async () => {
      const subject = `micro.tail.${k++}`
      const sub = nc.subscribe(subject, {
        callback: (e, m) => {
          if (e === null) m.respond(replyBody, { headers: replyHeaders })
        }
      })
      await nc.flush()
      const spans: Array<readonly [number, number]> = []
      for (let i = 0; i < N; i++) {
        const t0 = now()
        await nc.request(subject, body, { headers: requestHeaders, timeout: 5_000 })
        spans.push([t0, now()])
      }
      sub.unsubscribe()
      return spans
    })
    const herald = Effect.scoped(Effect.gen(function*() {
      const subject = `micro.tail.${k++}`
      yield* bus.serve(subject, () => Effect.succeed(reply))
      const spans: Array<readonly [number, number]> = []
      for (let i = 0; i < N; i++) {
        const t0 = now()
        yield* bus.request(subject, request)
        spans.push([t0, now()])
      }
      return spans
    }))
    const cpu = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.suspend(() => {
        const c0 = process.cpuUsage()
        return Effect.map(effect, (a) => {
          const c = process.cpuUsage(c0)
          return [a, c.user + c.system] as const
        })
      })
    for (let round = 0; round < 3; round++) {
      const [r, rc] = yield* cpu(raw)
      const [h, hc] = yield* cpu(herald)
      if (round === 0) continue
      summary("raw -> raw", r, rc)
      summary("herald -> herald", h, hc)
    }
  })
)
