/**
 * What confirmed acks cost when the consumer does not wait for each
 * confirmation: raw nats.js `consume()` over N messages, acking each one
 *
 * - `m.ack()`: fire and forget (the bench's raw row);
 * - `await m.ackAck()`: one round trip per message;
 * - `ackAck` pipelined: `m.ackAck()` not awaited, done when every
 *   confirmation arrived (what a runner confirming in the background gets
 *   through nats.js `request`);
 * - own inbox: `+ACK` published with a reply subject under one inbox
 *   subscription, confirmations counted in its callback (no nats.js request
 *   bookkeeping: no timer, no promise per ack).
 *
 *   node --conditions=@herald/source src/micro/ackmodes.ts
 *   NO_ASYNC_TRACES=1 ... (the raw connection with `noAsyncTraces: true`)
 */
import { NatsServer } from "@herald/testing"
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, createInbox } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import { body, envelopes, natsHeadersOf } from "../fixtures.ts"
import { median, now } from "../harness.ts"

const N = Number(process.env["N"] ?? "10000")
const STREAM = "MICRO_ACKMODES"
const te = new TextEncoder()
const ACK = te.encode("+ACK")

await Effect.runPromise(
  Effect.gen(function*() {
    const server = yield* NatsServer.NatsServer
    yield* Effect.promise(async () => {
      const nc = await connect({ servers: server.url, noAsyncTraces: process.env["NO_ASYNC_TRACES"] === "1" })
      const jsm = await jetstreamManager(nc)
      const js = jetstream(nc)
      await jsm.streams.add({ name: STREAM, subjects: ["micro.ackmodes.>"] })
      const es = envelopes(N)
      const headers = natsHeadersOf(es[0]!)
      let next = 0
      await Promise.all(Array.from({ length: 256 }, async () => {
        while (next < N) {
          const i = next++
          await js.publish("micro.ackmodes.x", body, { msgID: es[i]!.identity.messageId, headers })
        }
      }))
      let k = 0
      const run = async (mode: string) => {
        const name = `c${k++}`
        await jsm.consumers.add(STREAM, {
          durable_name: name,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          max_ack_pending: 1_000
        })
        const inbox = createInbox()
        let confirmed = 0
        let done: () => void = () => {}
        const allConfirmed = new Promise<void>((resolve) => (done = resolve))
        const sub = nc.subscribe(`${inbox}.*`, {
          callback: () => {
            if (++confirmed === N) done()
          }
        })
        await nc.flush()
        const t0 = now()
        const c = await js.consumers.get(STREAM, name)
        const messages = await c.consume()
        let count = 0
        let token = 0
        for await (const m of messages) {
          if (mode === "ack") m.ack()
          else if (mode === "await ackAck") await m.ackAck()
          else if (mode === "ackAck pipelined") {
            void m.ackAck().then(() => {
              if (++confirmed === N) done()
            })
          } else {
            // (The delivery's `$JS.ACK` subject: `JsMsgImpl.reply`, not in the `JsMsg` type.)
            const ackSubject = (m as unknown as { readonly reply: string }).reply
            nc.publish(ackSubject, ACK, { reply: `${inbox}.${++token}` })
          }
          if (++count === N) break
        }
        if (mode === "ack" || mode === "await ackAck") await nc.flush()
        else await allConfirmed
        const rate = N / ((now() - t0) / 1000)
        sub.unsubscribe()
        await messages.close()
        await jsm.consumers.delete(STREAM, name)
        return rate
      }
      const modes = ["ack", "await ackAck", "ackAck pipelined", "own inbox"]
      const results = new Map<string, Array<number>>()
      for (let round = 0; round < 4; round++) {
        for (const mode of modes) {
          const rate = await run(mode)
          if (round > 0) results.set(mode, [...(results.get(mode) ?? []), rate])
        }
      }
      console.log(`raw consume() + ack of ${N} messages, medians of 3 rounds`)
      for (const [mode, rates] of results) {
        console.log(`${mode.padEnd(20)} ${Math.round(median(rates)).toString().padStart(7)} msgs/s`)
      }
      await nc.close()
    })
  }).pipe(Effect.provide(NatsServer.layer()))
)
