/**
 * Where the time of a replay by sequence goes: the same N stored Herald
 * envelopes read, parsed (JSON body) and their identity read, by
 *
 * - raw nats.js, an ordered consumer, `consume({ max_messages: 256 })`;
 * - raw nats.js, an ordered consumer, `fetch({ max_messages: 256 })` one
 *   page after another (Herald's read asks for one page at a time);
 * - Herald `EventLog.read` (decoded envelopes), `Stream.runForEach`;
 * - Herald `EventLog.read`, `Stream.runForEachArray` (no Effect per message);
 * - Herald `Replay.bySequence(...).messages`, `Stream.runForEach`;
 * - Herald `Replay.bySequence(...).messages`, `Stream.runForEachArray`.
 *
 * Rounds alternate the variants; each line is the median over the rounds,
 * in messages/s, and this process's CPU time (user + system) per message.
 *
 *   N=50000 ROUNDS=3 node --conditions=@herald/source src/micro/replay.ts
 *
 * `ONLY=<part of a variant's name>,...` runs only those; `PROFILE=<file>`
 * writes a CPU profile of the rounds alone (not the fill) for
 * `src/tools/cpuprofile.ts`.
 */
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { Replay } from "@herald/replay"
import { Envelope, EventLog } from "@herald/transport"
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { randomBytes } from "node:crypto"
import { writeFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
import { body } from "../fixtures.ts"
import { median, now } from "../harness.ts"
import { withClients } from "./server.ts"

const N = Number(process.env["N"] ?? "50000")
const ROUNDS = Number(process.env["ROUNDS"] ?? "3")
const ONLY = process.env["ONLY"]?.split(",")
const PROFILE = process.env["PROFILE"]
const STREAM = "MICRO_REPLAY"
const decoder = new TextDecoder()

let clock = Date.now()
let sink = 0
const use = (messageId: string, correlationId: string, causationId: string, bytes: Uint8Array) => {
  const parsed = JSON.parse(decoder.decode(bytes)) as { readonly amount: number }
  sink += parsed.amount + messageId.length + correlationId.length + causationId.length
}

await withClients(({ eventLog, nc }) =>
  Effect.gen(function*() {
    const jsm = yield* Effect.promise(() => jetstreamManager(nc))
    const js = jetstream(nc)
    yield* Effect.promise(() => jsm.streams.add({ name: STREAM, subjects: ["micro.replay.>"] }))
    yield* Effect.forEach(
      Array.from({ length: N }, (_, i) => i),
      () =>
        eventLog.append(
          "micro.replay.x",
          Envelope.make({
            identity: MessageIdentity.root(IdGenerator.uuidv7(clock++, randomBytes(16))),
            type: "bench.OrderPlaced",
            kind: "event",
            occurredAt: Date.now(),
            body
          })
        ),
      { concurrency: 256, discard: true }
    )

    const rawConsume = async () => {
      const c = await js.consumers.get(STREAM, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 1 })
      const it = await c.consume({ max_messages: 256 })
      let n = 0
      for await (const m of it) {
        const h = m.headers!
        use(h.get("Herald-Message-Id"), h.get("Herald-Correlation-Id"), h.get("Herald-Causation-Id"), m.data)
        n++
        if (m.seq >= N) break
      }
      await it.close()
      return n
    }
    const rawFetch = async () => {
      const c = await js.consumers.get(STREAM, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 1 })
      let n = 0
      let last = 0
      while (last < N) {
        const it = await c.fetch({ max_messages: 256, expires: 5_000 })
        for await (const m of it) {
          const h = m.headers!
          use(h.get("Herald-Message-Id"), h.get("Herald-Correlation-Id"), h.get("Herald-Causation-Id"), m.data)
          n++
          last = m.seq
        }
      }
      return n
    }
    const perMessage = (m: EventLog.StoredMessage) => {
      const { causationId, correlationId, messageId } = m.envelope.identity
      use(messageId, correlationId, causationId, m.envelope.body)
    }
    const counted = <E>(stream: Stream.Stream<EventLog.StoredMessage, E>, perElement: boolean) => {
      let n = 0
      return Effect.as(
        perElement
          ? Stream.runForEach(stream, (m) => Effect.sync(() => (perMessage(m), n++)))
          : Stream.runForEachArray(stream, (ms) => Effect.sync(() => ms.forEach((m) => (perMessage(m), n++)))),
        0
      ).pipe(Effect.map(() => n))
    }
    const read = () => eventLog.read(STREAM, { from: { sequence: 1 }, to: { sequence: N } })
    const replay = () =>
      Stream.unwrap(
        Effect.map(
          Replay.bySequence(STREAM, { from: 1, to: N }).pipe(Effect.provideService(EventLog.EventLog, eventLog)),
          (r) => r.messages
        )
      )

    const all: ReadonlyArray<readonly [string, () => Effect.Effect<number, unknown>]> = [
      ["raw ordered consume (max_messages 256)", () => Effect.promise(rawConsume)],
      ["raw ordered fetch, one page of 256 at a time", () => Effect.promise(rawFetch)],
      ["EventLog.read + runForEach", () => counted(read(), true)],
      ["EventLog.read + runForEachArray", () => counted(read(), false)],
      ["Replay.bySequence messages + runForEach", () => counted(replay(), true)],
      ["Replay.bySequence messages + runForEachArray", () => counted(replay(), false)]
    ]
    const variants = all.filter(([name]) => ONLY === undefined || ONLY.some((o) => name.includes(o)))
    const results = new Map<string, Array<readonly [number, number]>>()
    const session = PROFILE === undefined ? undefined : new Session()
    if (session !== undefined) {
      yield* Effect.promise(async () => {
        session.connect()
        await session.post("Profiler.enable")
        await session.post("Profiler.start")
      })
    }
    for (let round = 0; round <= ROUNDS; round++) {
      for (const [name, run] of variants) {
        const c0 = process.cpuUsage()
        const t0 = now()
        const n = yield* run()
        const t1 = now()
        const cpu = process.cpuUsage(c0)
        if (n !== N) throw new Error(`${name}: ${n} messages, expected ${N}`)
        // round 0 is the warm-up
        if (round > 0) {
          const list = results.get(name) ?? []
          list.push([n / ((t1 - t0) / 1000), (cpu.user + cpu.system) / n])
          results.set(name, list)
        }
      }
    }
    if (session !== undefined && PROFILE !== undefined) {
      yield* Effect.promise(async () => {
        const { profile } = await session.post("Profiler.stop")
        writeFileSync(PROFILE, JSON.stringify(profile))
        session.disconnect()
      })
    }
    console.log(`${N} messages, median of ${ROUNDS} rounds (sink ${sink > 0})`)
    for (const [name, list] of results) {
      const rate = median(list.map((x) => x[0]))
      const cpu = median(list.map((x) => x[1]))
      console.log(`${name.padEnd(48)} ${Math.round(rate).toString().padStart(7)} msgs/s  ${cpu.toFixed(1).padStart(6)} µs CPU/msg`)
    }
  })
)
