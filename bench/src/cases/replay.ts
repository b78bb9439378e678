/**
 * Replay: a bounded replay by sequence against raw nats.js reading the same
 * range with an ordered consumer; one flow by correlation id with the index
 * against a scan of the whole stream.
 *
 * One stream (`BENCH_REPLAY`, filled once, untimed, through
 * `EventLog.append`) holds N Herald envelopes as an application stores
 * them: a 128-byte JSON body (`amount` = its position), each message a root
 * of its own conversation, except 12 messages of one flow in three levels
 * (one root, three children, eight grandchildren) spread evenly over the
 * stream.
 *
 * - replay by sequence (throughput): both sides read the middle half of
 *   the stream (sequences N / 4 + 1 to 3N / 4), parse each JSON body and
 *   read the three identity headers, and check the count, the sum of the
 *   amounts and the messages of the flow in the range. Herald:
 *   `Replay.bySequence(stream, { from, to })` and `Stream.runForEach` over
 *   its `messages` (decoded envelopes). Raw: `js.consumers.get(stream, {
 *   deliver_policy: start_sequence, opt_start_seq: from })` (an ordered
 *   consumer) and `consume({ max_messages: 256 })` (Herald's read asks for
 *   pages of 256) until sequence `to`. A run
 *   repeats whole passes until it has lasted at least `minMillis`; the rate
 *   is messages read / elapsed.
 * - one flow by correlation id (latency): **not raw nats.js**. Herald, the
 *   `herald` column: `Replay.byCorrelation(id)` through a
 *   `CorrelationIndexMemory` built once before the runs (untimed, by
 *   `CorrelationIndex.run` over the whole stream). The `raw` column is the
 *   way without an index: `Replay.scanCorrelation(stream, id, { from: 1,
 *   to: N })`. A run repeats the lookup until it has lasted at least
 *   `minMillis` (at least once) and reports the p50 and p99 of its calls;
 *   each answer is checked (the 12 messages in causal order).
 */
import { type Ids, IdGenerator, MessageIdentity } from "@herald/identity"
import { CorrelationIndex, CorrelationIndexMemory, Replay } from "@herald/replay"
import { Envelope, EventLog } from "@herald/transport"
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { randomBytes } from "node:crypto"
import { type BenchContext, runTimeoutMillis, within, withinEffect } from "../context.ts"
import { BODY_BYTES } from "../fixtures.ts"
import { type Case, now, quantile } from "../harness.ts"

export const REPLAY_STREAM = "BENCH_REPLAY"
const SUBJECT = "bench.replay.orders"

/** How long a run lasts at least (whole passes or lookups, at least one). */
const minMillis = Number(process.env["BENCH_REPLAY_MIN_MS"] ?? "1000")

const MESSAGE_ID = "Herald-Message-Id"
const CORRELATION_ID = "Herald-Correlation-Id"
const CAUSATION_ID = "Herald-Causation-Id"

let clock = Date.now()
const newId = (): Ids.MessageId => IdGenerator.uuidv7(clock++, randomBytes(16))

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** A 128-byte JSON body carrying `amount`. */
const bodyOf = (amount: number): Uint8Array => {
  const prefix = `{"orderId":"o-${amount}","amount":${amount},"pad":"`
  const suffix = `"}`
  return encoder.encode(prefix + "x".repeat(BODY_BYTES - prefix.length - suffix.length) + suffix)
}

/** What `fillReplayStream` stored. */
export interface Fixture {
  /** Messages in the stream (sequences 1 to `messages`). */
  readonly messages: number
  readonly correlationId: string
  /** The sequences of the flow's messages. */
  readonly flowSequences: ReadonlyArray<number>
  /** The flow's message ids in causal order (parents before children, ties by sequence). */
  readonly flow: ReadonlyArray<string>
}

let fixture: Fixture | undefined
let index: CorrelationIndex.CorrelationIndex["Service"] | undefined

const fixtureOf = (): Fixture => {
  if (fixture === undefined) throw new Error("the replay stream is not filled (fillReplayStream)")
  return fixture
}

/** The positions (0-based) of the flow's 12 messages: spread over the stream, parents first. */
const flowPositions = (n: number): ReadonlyArray<number> =>
  Array.from({ length: 12 }, (_, k) => Math.floor(((k + 0.5) * n) / 12))

/**
 * Fills the replay stream (untimed): N envelopes appended through
 * `EventLog.append`, 256 in flight; the flow's messages are N / 12 apart,
 * so they are stored in causal order.
 */
export const fillReplayStream = (ctx: BenchContext) =>
  Effect.gen(function*() {
    const n = ctx.sizes.replay
    if (n < 1_200) return yield* Effect.die(new Error(`the replay stream needs at least 1,200 messages, got ${n}`))
    yield* Effect.promise(() =>
      ctx.jsm.streams.add({ name: REPLAY_STREAM, subjects: ["bench.replay.>"], storage: ctx.storage })
    )
    // The flow: a root, three children, eight grandchildren (3 + 3 + 2).
    const root = MessageIdentity.root(newId())
    const children = Array.from({ length: 3 }, () => MessageIdentity.derive(root, newId()))
    const grandchildren = [0, 0, 0, 1, 1, 1, 2, 2].map((c) => MessageIdentity.derive(children[c]!, newId()))
    const flow = [root, ...children, ...grandchildren]
    const positions = new Map(flowPositions(n).map((p, k) => [p, flow[k]!]))
    const at = (i: number): Envelope.Envelope =>
      Envelope.make({
        identity: positions.get(i) ?? MessageIdentity.root(newId()),
        type: positions.has(i) ? "bench.FlowStep" : "bench.OrderPlaced",
        kind: "event",
        occurredAt: Date.now(),
        body: bodyOf(i)
      })
    // 256 appends in flight, issued in order on one connection: stored in
    // order (checked below at the range's ends and the flow's sequences).
    const t0 = now()
    yield* Effect.forEach(
      Array.from({ length: n }, (_, i) => i),
      (i) => ctx.eventLog.append(SUBJECT, at(i)),
      { concurrency: ctx.sizes.window, discard: true }
    )
    const info = yield* Effect.promise(() => ctx.jsm.streams.info(REPLAY_STREAM))
    if (info.state.messages !== n || info.state.last_seq !== n) {
      return yield* Effect.die(
        new Error(`replay stream: ${info.state.messages} stored up to ${info.state.last_seq}, expected ${n}`)
      )
    }
    const flowSequences = flowPositions(n).map((p) => p + 1)
    const { from, to } = rangeOf(n)
    for (const seq of [from, to, ...flowSequences]) {
      const stored = yield* Effect.promise(() => ctx.jsm.streams.getMessage(REPLAY_STREAM, { seq }))
      const amount = (stored?.json<{ readonly amount: number }>())?.amount
      const expected = positions.get(seq - 1)?.messageId
      if (amount !== seq - 1 || (expected !== undefined && stored?.header.get(MESSAGE_ID) !== expected)) {
        return yield* Effect.die(new Error(`replay stream: sequence ${seq} holds amount ${amount}, expected ${seq - 1}`))
      }
    }
    console.log(`  replay stream of ${n} messages filled in ${((now() - t0) / 1000).toFixed(1)} s (untimed)`)
    fixture = {
      messages: n,
      correlationId: root.correlationId,
      flowSequences,
      flow: flow.map((f) => f.messageId)
    }
  }).pipe(Effect.orDie)

/**
 * Builds the correlation index of the replay stream once (untimed):
 * `CorrelationIndex.run` over a fresh durable consumer into a
 * `CorrelationIndexMemory`, until every message is recorded; the runner
 * and its consumer are gone afterwards, the store stays.
 */
export const buildIndex = (ctx: BenchContext) =>
  Effect.gen(function*() {
    const { messages } = fixtureOf()
    const consumer = "bench_replay_index"
    const store = yield* CorrelationIndexMemory.make
    const t0 = now()
    yield* Effect.acquireUseRelease(
      Effect.promise(() =>
        ctx.jsm.consumers.add(REPLAY_STREAM, {
          durable_name: consumer,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          max_ack_pending: 1_000,
          ack_wait: 30_000_000_000
        })
      ),
      () =>
        Effect.scoped(Effect.gen(function*() {
          const handle = yield* CorrelationIndex.run({ stream: REPLAY_STREAM, consumer, concurrency: 64 })
          while ((yield* handle.stats).recorded < messages) yield* Effect.sleep(5)
          const stats = yield* handle.stats
          if (stats.recorded !== messages || stats.skipped !== 0) {
            return yield* Effect.die(new Error(`index: ${stats.recorded} recorded, ${stats.skipped} skipped, expected ${messages}`))
          }
        })).pipe(
          Effect.provideService(CorrelationIndex.CorrelationIndex, store),
          Effect.provideService(EventLog.EventLog, ctx.eventLog)
        ),
      () => Effect.promise(() => ctx.jsm.consumers.delete(REPLAY_STREAM, consumer))
    )
    console.log(`  correlation index of ${messages} messages built in ${((now() - t0) / 1000).toFixed(1)} s (untimed)`)
    index = store
  }).pipe(withinEffect(5 * runTimeoutMillis, "correlation index build"), Effect.orDie)

/** What a pass over the range must have seen. */
interface Tally {
  count: number
  amounts: number
  /** Messages of the flow (by their correlation header). */
  flow: number
  /** Σ length of the three identity values, so that reading them is not dead code. */
  ids: number
}

/** The range the throughput row reads: the middle half of the stream. */
export const rangeOf = (n: number) => ({ from: Math.floor(n / 4) + 1, to: Math.floor(n / 4) + Math.floor(n / 2) })

const check = (side: string, tally: Tally, passes: number, f: Fixture) => {
  const { from, to } = rangeOf(f.messages)
  const count = to - from + 1
  // The message at sequence s carries amount s - 1.
  const amounts = ((from - 1 + to - 1) * count) / 2
  const flow = f.flowSequences.filter((s) => s >= from && s <= to).length
  if (
    tally.count !== passes * count || tally.amounts !== passes * amounts || tally.flow !== passes * flow ||
    tally.ids !== passes * count * 3 * 36
  ) {
    throw new Error(
      `${side} replay: ${JSON.stringify(tally)} over ${passes} passes; expected ${count} messages, Σ amount ${amounts}, ${flow} of the flow, 108 id characters per message, per pass`
    )
  }
}

/** Replay throughput by sequence over the middle half of the stream. */
export const replayBySequence = (ctx: BenchContext): Case => {
  const n = ctx.sizes.replay
  const { from, to } = rangeOf(n)
  return {
    title:
      `replay by sequence, ${to - from + 1} messages (${from} to ${to} of ${n}); herald Replay.bySequence(...).messages, raw ordered consumer consume({ max_messages: 256 }); each run ≥ ${minMillis} ms of whole passes`,
    raw: (run) =>
      Effect.promise(async () => {
        const f = fixtureOf()
        const tally: Tally = { count: 0, amounts: 0, flow: 0, ids: 0 }
        let passes = 0
        const t0 = now()
        await within(runTimeoutMillis, `raw replay run ${run}`, (async () => {
          while (passes === 0 || now() - t0 < minMillis) {
            const consumer = await ctx.js.consumers.get(REPLAY_STREAM, {
              deliver_policy: DeliverPolicy.StartSequence,
              opt_start_seq: from
            })
            const messages = await consumer.consume({ max_messages: 256 })
            for await (const m of messages) {
              const h = m.headers!
              const messageId = h.get(MESSAGE_ID)
              const correlationId = h.get(CORRELATION_ID)
              const causationId = h.get(CAUSATION_ID)
              const body = m.json<{ readonly amount: number }>()
              tally.count++
              tally.amounts += body.amount
              tally.ids += messageId.length + correlationId.length + causationId.length
              if (correlationId === f.correlationId) tally.flow++
              if (m.seq >= to) break
            }
            await messages.close()
            passes++
          }
        })())
        const t1 = now()
        check("raw", tally, passes, f)
        return { rate: tally.count / ((t1 - t0) / 1000), passes }
      }),
    herald: (run) =>
      Effect.gen(function*() {
        const f = fixtureOf()
        const tally: Tally = { count: 0, amounts: 0, flow: 0, ids: 0 }
        let passes = 0
        const t0 = now()
        while (passes === 0 || now() - t0 < minMillis) {
          const replay = yield* Replay.bySequence(REPLAY_STREAM, { from, to })
          yield* Stream.runForEach(replay.messages, (m) =>
            Effect.sync(() => {
              const { causationId, correlationId, messageId } = m.envelope.identity
              const body = JSON.parse(decoder.decode(m.envelope.body)) as { readonly amount: number }
              tally.count++
              tally.amounts += body.amount
              tally.ids += messageId.length + correlationId.length + causationId.length
              if (correlationId === f.correlationId) tally.flow++
            }))
          passes++
        }
        const t1 = now()
        check("herald", tally, passes, f)
        return { rate: tally.count / ((t1 - t0) / 1000), passes }
      }).pipe(
        Effect.provideService(EventLog.EventLog, ctx.eventLog),
        withinEffect(runTimeoutMillis, `herald replay run ${run}`),
        Effect.orDie
      )
  }
}

/** Checks that a flow is the fixture's 12 messages in causal order. */
const checkFlow = (side: string, flow: Replay.Flow, f: Fixture) => {
  const ids = flow.messages.map((m) => m.envelope.identity.messageId)
  if (
    ids.length !== 12 || ids.some((id, i) => id !== f.flow[i]) || flow.orphans.length !== 0 ||
    flow.cycles.length !== 0 || flow.duplicates.length !== 0
  ) {
    return Effect.die(new Error(`${side}: flow of ${ids.length} messages, not the 12 expected in causal order`))
  }
  return Effect.void
}

/** Repeats `lookup` until `minMillis` have passed (at least once); p50 and p99 of the calls in ms. */
const latencies = <E, R>(lookup: Effect.Effect<unknown, E, R>) =>
  Effect.gen(function*() {
    const samples: Array<number> = []
    const t0 = now()
    while (samples.length === 0 || now() - t0 < minMillis) {
      const s = now()
      yield* lookup
      samples.push(now() - s)
    }
    return { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99), calls: samples.length }
  })

/** One flow by correlation id: with the index (herald column) against a scan of the whole stream (raw column). */
export const byCorrelation = (ctx: BenchContext): Case => {
  const n = ctx.sizes.replay
  return {
    title:
      `one flow (12 messages, 3 levels) among ${n}: herald Replay.byCorrelation with CorrelationIndexMemory; baseline (raw column) Replay.scanCorrelation over sequences 1 to ${n}; each run ≥ ${minMillis} ms of lookups`,
    raw: (run) =>
      Effect.gen(function*() {
        const f = fixtureOf()
        return yield* latencies(Effect.flatMap(
          Replay.scanCorrelation(REPLAY_STREAM, f.correlationId, { from: 1, to: n }),
          (flow) => checkFlow("scanCorrelation", flow, f)
        ))
      }).pipe(
        Effect.provideService(EventLog.EventLog, ctx.eventLog),
        withinEffect(runTimeoutMillis, `scan correlation run ${run}`),
        Effect.orDie
      ),
    herald: (run) =>
      Effect.gen(function*() {
        const f = fixtureOf()
        if (index === undefined) return yield* Effect.die(new Error("the correlation index is not built (buildIndex)"))
        return yield* latencies(Effect.flatMap(
          Replay.byCorrelation(f.correlationId),
          (flow) =>
            flow.missing.length !== 0 || flow.entries.length !== 12
              ? Effect.die(new Error(`byCorrelation: ${flow.entries.length} entries, ${flow.missing.length} missing`))
              : checkFlow("byCorrelation", flow, f)
        )).pipe(Effect.provideService(CorrelationIndex.CorrelationIndex, index))
      }).pipe(
        Effect.provideService(EventLog.EventLog, ctx.eventLog),
        withinEffect(runTimeoutMillis, `byCorrelation run ${run}`),
        Effect.orDie
      )
  }
}
