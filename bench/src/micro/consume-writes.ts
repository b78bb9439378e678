/**
 * Socket writes and reads and CPU per message of `EventLog.consume` against raw
 * nats.js `consume()`: N messages acked, with the connection's transport
 * `send` wrapped to count writes and a listener on its socket counting
 * reads (nats.js internals, for this measurement only) and `process.cpuUsage()` around the run.
 *
 *   node --conditions=@herald/source src/micro/consume-writes.ts
 *   N=10000 CONCURRENCY=16 MAX_ACK_PENDING=100 SIDE=herald ...
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import { body, envelopes, natsHeadersOf } from "../fixtures.ts"
import { median, now } from "../harness.ts"
import { withClients } from "./server.ts"

const N = Number(process.env["N"] ?? "10000")
const concurrency = Number(process.env["CONCURRENCY"] ?? "1")
const maxAckPending = process.env["MAX_ACK_PENDING"] === undefined ? undefined : Number(process.env["MAX_ACK_PENDING"])
const side = process.env["SIDE"] // "herald" | "raw": one side only (for profiling)
const STREAM = "MICRO_CONSUME_WRITES"

/** Counts the connection's socket writes (nats.js's `transport.send`). */
const countWrites = (nc: NatsConnection) => {
  const transport = (nc as unknown as { protocol: { transport: { send: (b: Uint8Array) => void } } }).protocol.transport
  const send = transport.send.bind(transport)
  const counter = { writes: 0, bytes: 0, reads: 0 }
  ;(transport as unknown as { socket: { on: (e: string, f: () => void) => void } }).socket.on("data", () => {
    counter.reads++
  })
  transport.send = (b: Uint8Array) => {
    counter.writes++
    counter.bytes += b.length
    send(b)
  }
  return counter
}

await withClients(({ connection, eventLog, nc }) =>
  Effect.gen(function*() {
    const jsm = yield* Effect.promise(() => jetstreamManager(nc))
    const js = jetstream(nc)
    yield* Effect.promise(async () => {
      await jsm.streams.add({ name: STREAM, subjects: ["micro.cw.>"] })
      const es = envelopes(N)
      const headers = natsHeadersOf(es[0]!)
      let next = 0
      await Promise.all(Array.from({ length: 256 }, async () => {
        while (next < N) {
          const i = next++
          await js.publish("micro.cw.x", body, { msgID: es[i]!.identity.messageId, headers })
        }
      }))
    })
    const heraldWrites = countWrites(connection.client)
    const rawWrites = countWrites(nc)
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
    const herald = Effect.scoped(Effect.gen(function*() {
      const name = yield* consumer()
      const w0 = heraldWrites.writes
      const r0 = heraldWrites.reads
      const c0 = process.cpuUsage()
      const t0 = now()
      const handle = yield* eventLog.consume(STREAM, name, () => Effect.void, {
        concurrency,
        ...(maxAckPending === undefined ? {} : { maxAckPending })
      })
      while ((yield* handle.stats).acked < N) yield* Effect.sleep(1)
      const t1 = now()
      const cpu = process.cpuUsage(c0)
      return [N / ((t1 - t0) / 1000), (heraldWrites.writes - w0) / N, (cpu.user + cpu.system) / N, (heraldWrites.reads - r0) / N] as const
    }))
    const raw = Effect.flatMap(consumer(), (name) =>
      Effect.promise(async () => {
        const w0 = rawWrites.writes
        const r0 = rawWrites.reads
        const c0 = process.cpuUsage()
        const t0 = now()
        const c = await js.consumers.get(STREAM, name)
        const messages = await c.consume()
        let count = 0
        for await (const m of messages) {
          m.ack()
          if (++count === N) break
        }
        await nc.flush()
        const t1 = now()
        const cpu = process.cpuUsage(c0)
        await messages.close()
        return [N / ((t1 - t0) / 1000), (rawWrites.writes - w0) / N, (cpu.user + cpu.system) / N, (rawWrites.reads - r0) / N] as const
      }))
    const results = new Map<string, Array<readonly [number, number, number, number]>>()
    for (let round = 0; round < 4; round++) {
      for (const [label, run] of [["herald", herald], ["raw m.ack()", raw]] as const) {
        if (side !== undefined && !label.startsWith(side)) continue
        const r = yield* run
        if (round > 0) results.set(label, [...(results.get(label) ?? []), r])
      }
    }
    console.log(
      `consume + ack of ${N} messages, herald concurrency ${concurrency}, maxAckPending ${maxAckPending ?? "default"}; medians of 3`
    )
    for (const [label, rs] of results) {
      console.log(
        `${label.padEnd(14)} ${Math.round(median(rs.map((r) => r[0]))).toString().padStart(7)} msgs/s  ${
          median(rs.map((r) => r[1])).toFixed(2)
        } writes/msg  ${median(rs.map((r) => r[3])).toFixed(2)} reads/msg  ${
          median(rs.map((r) => r[2])).toFixed(1)
        } µs CPU/msg (this process)`
      )
    }
  })
)
