/**
 * What one event-loop hop costs a request/reply round trip: raw nats.js
 * requester and responder, the responder answering at once, after a
 * microtask, after `setImmediate` (how Effect's scheduler resumes a fiber
 * woken from outside), and after `setTimeout(0)`.
 *
 *   node --conditions=@herald/source src/micro/hop.ts
 */
import * as Effect from "effect/Effect"
import { body, envelope, natsHeadersOf, rawOf } from "../fixtures.ts"
import { median, now, quantile } from "../harness.ts"
import { withClients } from "./server.ts"

const N = 3000
const request = envelope("query", "bench.GetOrder")
const reply = envelope("reply", "bench.Order")
const requestHeaders = natsHeadersOf(request)
const replyHeaders = natsHeadersOf(reply)
const replyBody = rawOf(reply).body

await withClients(({ nc }) =>
  Effect.promise(async () => {
    const modes = {
      "at once": (f: () => void) => f(),
      "queueMicrotask": (f: () => void) => queueMicrotask(f),
      "setImmediate": (f: () => void) => void setImmediate(f),
      "setImmediate x2": (f: () => void) => void setImmediate(() => setImmediate(f)),
      "setTimeout 0": (f: () => void) => void setTimeout(f, 0)
    } as const
    const results = new Map<string, Array<number>>()
    let k = 0
    for (let round = 0; round < 4; round++) {
      for (const [name, defer] of Object.entries(modes)) {
        const subject = `micro.hop.${k++}`
        const sub = nc.subscribe(subject, {
          callback: (e, m) => {
            if (e === null) defer(() => m.respond(replyBody, { headers: replyHeaders }))
          }
        })
        await nc.flush()
        const xs = new Float64Array(N)
        for (let i = 0; i < N; i++) {
          const t0 = now()
          await nc.request(subject, body, { headers: requestHeaders, timeout: 5_000 })
          xs[i] = now() - t0
        }
        sub.unsubscribe()
        if (round === 0) continue
        const list = results.get(name) ?? []
        list.push(quantile(xs, 0.5))
        results.set(name, list)
      }
    }
    for (const [name, list] of results) console.log(`responder answers ${name.padEnd(16)} p50 ${median(list).toFixed(3)} ms`)
  })
)
