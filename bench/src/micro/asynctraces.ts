/**
 * What nats.js's async traces cost: every `request` (so every JetStream
 * publish, and every ack Herald sends as a request) builds a `RequestError`
 * and a `TimeoutError` up front, with stack traces, in case it fails.
 * `noAsyncTraces: true` in the connection options skips them. Raw nats.js
 * on two connections to one nats-server, the same work on each:
 *
 *   node --conditions=@herald/source src/micro/asynctraces.ts
 *
 * - pipelined JetStream publish (256 in flight), msgs/s
 * - sequential core request/reply, p50 ms
 */
import { jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import { body, envelopes, natsHeadersOf } from "../fixtures.ts"
import { median, now, quantile } from "../harness.ts"
import { withClients } from "./server.ts"

const N = 20_000
const R = 3_000
const W = 256

await withClients(({ url }) =>
  Effect.promise(async () => {
    const clients: ReadonlyArray<readonly [string, NatsConnection]> = [
      ["default (async traces on)", await connect({ servers: url })],
      ["noAsyncTraces: true", await connect({ servers: url, noAsyncTraces: true })]
    ]
    const jsm = await jetstreamManager(clients[0]![1])
    const headers = natsHeadersOf(envelopes(1)[0]!)
    const appendRates = new Map<string, Array<number>>()
    const p50s = new Map<string, Array<number>>()
    let k = 0
    for (let round = 0; round < 4; round++) {
      for (const [name, nc] of clients) {
        const js = jetstream(nc)
        const stream = `ASYNC_TRACES_${k++}`
        await jsm.streams.add({ name: stream, subjects: [`${stream}.>`], storage: StorageType.File })
        const ids = envelopes(N).map((e) => e.identity.messageId)
        let next = 0
        const t0 = now()
        await Promise.all(Array.from({ length: W }, async () => {
          while (next < N) {
            const i = next++
            await js.publish(`${stream}.x`, body, { msgID: ids[i]!, headers })
          }
        }))
        const rate = N / ((now() - t0) / 1000)
        await jsm.streams.delete(stream)

        const subject = `async.traces.${k++}`
        const sub = nc.subscribe(subject, {
          callback: (e, m) => {
            if (e === null) m.respond(body)
          }
        })
        await nc.flush()
        const xs = new Float64Array(R)
        for (let i = 0; i < R; i++) {
          const t = now()
          await nc.request(subject, body, { headers, timeout: 5_000 })
          xs[i] = now() - t
        }
        sub.unsubscribe()
        if (round === 0) continue
        appendRates.set(name, [...(appendRates.get(name) ?? []), rate])
        p50s.set(name, [...(p50s.get(name) ?? []), quantile(xs, 0.5)])
      }
    }
    for (const [name] of clients) {
      console.log(
        `${name.padEnd(28)} append pipelined ${Math.round(median(appendRates.get(name)!))} msgs/s, request p50 ${
          median(p50s.get(name)!).toFixed(3)
        } ms`
      )
    }
    for (const [, nc] of clients) await nc.close()
  })
)
