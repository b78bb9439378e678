/**
 * Why `EventLog.consume` at concurrency 1 is slow: how many pull requests it
 * sends (counted by a spy subscription on `$JS.API.CONSUMER.MSG.NEXT.>`)
 * and its throughput, with the default `maxAckPending` (10 × concurrency)
 * and with 100 (nats.js `consume()`'s default buffer), against raw nats.js
 * `consume()` with `await m.ackAck()` (a confirmed ack per message, as
 * Herald's ack is) and with `m.ack()`.
 *
 *   node --conditions=@herald/source src/micro/consume.ts
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream"
import * as Effect from "effect/Effect"
import { body, envelopes, natsHeadersOf } from "../fixtures.ts"
import { median, now } from "../harness.ts"
import { withClients } from "./server.ts"

const N = Number(process.env["N"] ?? "5000")
const STREAM = "MICRO_CONSUME"

await withClients(({ eventLog, nc }) =>
  Effect.gen(function*() {
    const jsm = yield* Effect.promise(() => jetstreamManager(nc))
    const js = jetstream(nc)
    yield* Effect.promise(async () => {
      await jsm.streams.add({ name: STREAM, subjects: ["micro.consume.>"] })
      const es = envelopes(N)
      const headers = natsHeadersOf(es[0]!)
      let next = 0
      await Promise.all(Array.from({ length: 256 }, async () => {
        while (next < N) {
          const i = next++
          await js.publish("micro.consume.x", body, { msgID: es[i]!.identity.messageId, headers })
        }
      }))
    })
    let pulls = 0
    let batches = 0
    nc.subscribe("$JS.API.CONSUMER.MSG.NEXT.>", {
      callback: (_e, m) => {
        pulls++
        batches += (JSON.parse(m.string()) as { batch: number }).batch
      }
    })
    yield* Effect.promise(() => nc.flush())
    let k = 0
    const consumer = () =>
      Effect.promise(async () => {
        const name = `c${k++}`
        await jsm.consumers.add(STREAM, {
          durable_name: name,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          max_ack_pending: 1_000
        })
        return name
      })
    const herald = (maxAckPending: number | undefined) =>
      Effect.scoped(Effect.gen(function*() {
        const name = yield* consumer()
        const t0 = now()
        const handle = yield* eventLog.consume(STREAM, name, () => Effect.void, {
          concurrency: 1,
          ...(maxAckPending === undefined ? {} : { maxAckPending })
        })
        while ((yield* handle.stats).acked < N) yield* Effect.sleep(1)
        return N / ((now() - t0) / 1000)
      }))
    const raw = (mode: "ack" | "ackAck") =>
      Effect.flatMap(consumer(), (name) =>
        Effect.promise(async () => {
          const t0 = now()
          const c = await js.consumers.get(STREAM, name)
          const messages = await c.consume()
          let count = 0
          for await (const m of messages) {
            if (mode === "ack") m.ack()
            else await m.ackAck()
            if (++count === N) break
          }
          await nc.flush()
          const rate = N / ((now() - t0) / 1000)
          await messages.close()
          return rate
        }))
    const variants = [
      ["herald c=1, maxAckPending default (10)", herald(undefined)],
      ["herald c=1, maxAckPending 100", herald(100)],
      ["raw consume(), await m.ackAck()", raw("ackAck")],
      ["raw consume(), m.ack()", raw("ack")]
    ] as const
    const results = new Map<string, Array<[number, number, number]>>()
    for (let round = 0; round < 3; round++) {
      for (const [name, run] of variants) {
        pulls = 0
        batches = 0
        const rate = yield* run
        yield* Effect.promise(() => nc.flush())
        if (round === 0) continue
        results.set(name, [...(results.get(name) ?? []), [rate, pulls, batches / Math.max(1, pulls)]])
      }
    }
    console.log(`consume + ack of ${N} messages, medians of 2 rounds`)
    for (const [name, list] of results) {
      const rate = median(list.map((x) => x[0]))
      const p = median(list.map((x) => x[1]))
      const b = median(list.map((x) => x[2]))
      console.log(`${name.padEnd(42)} ${Math.round(rate).toString().padStart(6)} msgs/s  ${p} pull requests, mean batch ${b.toFixed(1)}`)
    }
  })
)
