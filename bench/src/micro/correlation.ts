/**
 * Where the time of `Replay.byCorrelation` goes, for one flow of 12
 * messages spread over a stream of N (so that each is its own range of the
 * lookup, as in the bench row):
 *
 * - `Replay.byCorrelation` through a `CorrelationIndexMemory` (built untimed
 *   from one `EventLog.read` of the stream);
 * - the index's `lookup` alone;
 * - the 12 messages fetched by `EventLog.readRaw` over a one-sequence range
 *   each, 8 at once (what `byCorrelation` does for isolated entries: each
 *   read looks the stream up, creates an ephemeral consumer, pulls, deletes
 *   it);
 * - the 12 messages fetched by `EventLog.get` (one `STREAM.MSG.GET` each),
 *   8 at once.
 *
 * Each line: the median over CALLS calls, in ms.
 *
 *   N=20000 CALLS=30 node --conditions=@herald/source src/micro/correlation.ts
 */
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { CorrelationIndex, CorrelationIndexMemory, Replay } from "@herald/replay"
import { Envelope, EventLog } from "@herald/transport"
import { jetstreamManager } from "@nats-io/jetstream"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { randomBytes } from "node:crypto"
import { body } from "../fixtures.ts"
import { median, now } from "../harness.ts"
import { withClients } from "./server.ts"

const N = Number(process.env["N"] ?? "20000")
const CALLS = Number(process.env["CALLS"] ?? "30")
const STREAM = "MICRO_CORRELATION"

let clock = Date.now()
const newId = () => IdGenerator.uuidv7(clock++, randomBytes(16))

await withClients(({ eventLog, nc }) =>
  Effect.gen(function*() {
    const jsm = yield* Effect.promise(() => jetstreamManager(nc))
    yield* Effect.promise(() => jsm.streams.add({ name: STREAM, subjects: ["micro.correlation.>"] }))
    const root = MessageIdentity.root(newId())
    const children = Array.from({ length: 3 }, () => MessageIdentity.derive(root, newId()))
    const flow = [root, ...children, ...[0, 0, 0, 1, 1, 1, 2, 2].map((c) => MessageIdentity.derive(children[c]!, newId()))]
    const positions = new Map(flow.map((identity, k) => [Math.floor(((k + 0.5) * N) / 12), identity]))
    yield* Effect.forEach(
      Array.from({ length: N }, (_, i) => i),
      (i) =>
        eventLog.append(
          "micro.correlation.x",
          Envelope.make({
            identity: positions.get(i) ?? MessageIdentity.root(newId()),
            type: "bench.OrderPlaced",
            kind: "event",
            occurredAt: Date.now(),
            body
          })
        ),
      { concurrency: 256, discard: true }
    )
    const index = yield* CorrelationIndexMemory.make
    yield* Stream.runForEachArray(
      eventLog.read(STREAM),
      (ms) => Effect.asVoid(index.record(ms.map((m) => CorrelationIndex.entryOf(m))))
    )
    const entries = yield* index.lookup(root.correlationId)
    if (entries.length !== 12) throw new Error(`index: ${entries.length} entries, expected 12`)

    const variants: ReadonlyArray<readonly [string, Effect.Effect<number, unknown>]> = [
      [
        "Replay.byCorrelation (memory index)",
        Effect.map(
          Replay.byCorrelation(root.correlationId).pipe(
            Effect.provideService(CorrelationIndex.CorrelationIndex, index),
            Effect.provideService(EventLog.EventLog, eventLog)
          ),
          (f) => f.messages.length
        )
      ],
      ["index lookup alone", Effect.map(index.lookup(root.correlationId), (es) => es.length)],
      [
        "12 × EventLog.readRaw of one sequence, 8 at once",
        Effect.map(
          Effect.forEach(
            entries,
            (e) =>
              Stream.runCollect(eventLog.readRaw(STREAM, { from: { sequence: e.sequence }, to: { sequence: e.sequence } })),
            { concurrency: 8 }
          ),
          (xs) => xs.reduce((n, x) => n + x.length, 0)
        )
      ],
      [
        "12 × EventLog.get (STREAM.MSG.GET), 8 at once",
        Effect.map(
          Effect.forEach(entries, (e) => eventLog.get(STREAM, e.sequence), { concurrency: 8 }),
          (xs) => xs.filter((x) => x._tag === "Some").length
        )
      ]
    ]
    const results = new Map<string, Array<number>>()
    for (let call = 0; call <= CALLS; call++) {
      for (const [name, run] of variants) {
        const t0 = now()
        const n = yield* run
        const t1 = now()
        if (n !== 12) throw new Error(`${name}: ${n}, expected 12`)
        if (call > 0) results.set(name, [...(results.get(name) ?? []), t1 - t0])
      }
    }
    console.log(`one flow of 12 among ${N}, median of ${CALLS} calls (alternated)`)
    for (const [name, xs] of results) console.log(`${name.padEnd(52)} ${median(xs).toFixed(2).padStart(8)} ms`)
  })
)
