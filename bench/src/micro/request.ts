/**
 * Where request/reply latency goes: each requester (raw `nc.request`,
 * Herald `Bus.request`) against each responder (raw subscription with
 * `msg.respond`, Herald `Bus.serve`), p50 and p99 over sequential requests,
 * and Herald's two sides again with spans turned off
 * (`References.TracerEnabled` false), on one nats-server.
 *
 *   node --conditions=@herald/source src/micro/request.ts
 */
import * as Effect from "effect/Effect"
import * as References from "effect/References"
import { body, envelope, natsHeadersOf, rawOf } from "../fixtures.ts"
import { median, now, quantile } from "../harness.ts"
import { withClients } from "./server.ts"

const N = Number(process.env["N"] ?? "3000")
const request = envelope("query", "bench.GetOrder")
const reply = envelope("reply", "bench.Order")
const requestHeaders = natsHeadersOf(request)
const replyHeaders = natsHeadersOf(reply)
const replyBody = rawOf(reply).body

await withClients(({ bus, nc }) =>
  Effect.gen(function*() {
    let k = 0
    const serveRaw = (subject: string) =>
      Effect.acquireRelease(
        Effect.promise(async () => {
          const sub = nc.subscribe(subject, {
            callback: (e, m) => {
              if (e === null) m.respond(replyBody, { headers: replyHeaders })
            }
          })
          await nc.flush()
          return sub
        }),
        (sub) => Effect.sync(() => sub.unsubscribe())
      )
    const serveHerald = (subject: string) => bus.serve(subject, () => Effect.succeed(reply))
    const requestRaw = (subject: string) =>
      Effect.promise(async () => {
        const xs = new Float64Array(N)
        for (let i = 0; i < N; i++) {
          const t0 = now()
          await nc.request(subject, body, { headers: requestHeaders, timeout: 5_000 })
          xs[i] = now() - t0
        }
        return xs
      })
    const requestHerald = (subject: string) =>
      Effect.gen(function*() {
        const xs = new Float64Array(N)
        for (let i = 0; i < N; i++) {
          const t0 = now()
          yield* bus.request(subject, request)
          xs[i] = now() - t0
        }
        return xs
      })
    const combos = [
      ["raw requester    -> raw responder   ", requestRaw, serveRaw, true],
      ["herald requester -> raw responder   ", requestHerald, serveRaw, true],
      ["raw requester    -> herald responder", requestRaw, serveHerald, true],
      ["herald requester -> herald responder", requestHerald, serveHerald, true],
      ["herald -> herald, TracerEnabled=false", requestHerald, serveHerald, false]
    ] as const
    const results = new Map<string, Array<{ p50: number; p99: number }>>()
    for (let round = 0; round < 4; round++) {
      for (const [name, req, serve, tracer] of combos) {
        const subject = `micro.rr.${k++}`
        const xs = yield* Effect.scoped(Effect.gen(function*() {
          yield* serve(subject)
          return yield* req(subject)
        })).pipe(Effect.provideService(References.TracerEnabled, tracer))
        if (round === 0) continue // warm-up
        const list = results.get(name) ?? []
        list.push({ p50: quantile(xs, 0.5), p99: quantile(xs, 0.99) })
        results.set(name, list)
      }
    }
    console.log(`${N} sequential requests, medians of 3 rounds (ms)`)
    for (const [name, list] of results) {
      console.log(`${name}  p50 ${median(list.map((r) => r.p50)).toFixed(3)}  p99 ${median(list.map((r) => r.p99)).toFixed(3)}`)
    }
  })
)
