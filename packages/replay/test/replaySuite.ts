/**
 * Bounded replays, run on any transport: exact boundaries by sequence and
 * time, filters, empty ranges, purged prefixes and holes, bad input, flows
 * found by scanning a window.
 */
import { assert } from "@effect/vitest"
import { Fixtures } from "@herald/testing"
import { EventLog, Topology, type TransportError, type Wire } from "@herald/transport"
import type { MessageIdentity } from "@herald/identity"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Replay, ReplayError } from "../src/index.ts"

export interface Harness {
  /** Lets a millisecond or more pass between appends, so that timestamps differ. */
  readonly tick: Effect.Effect<void>
  /** Runs one test (with the layer provided). */
  readonly test: (
    name: string,
    body: () => Effect.Effect<void, unknown, EventLog.EventLog | Topology.Topology | Scope.Scope>
  ) => void
}

let streams = 0
const unique = () => {
  const n = ++streams
  return { stream: `REPLAY${n}`, prefix: `replay${n}` }
}

const append = (subject: string, n: number, identity?: MessageIdentity.MessageIdentity) =>
  EventLog.EventLog.use((log) =>
    log.append(subject, Fixtures.envelope({ identity: identity ?? n, type: "test.Numbered", payload: { n } }))
  )

const sequences = (replay: Replay.Replay) =>
  Effect.map(Stream.runCollect(replay.messages), (all) => Array.from(all).map((m) => m.sequence))

const listed = (all: Iterable<Replay.RawEvent>) =>
  Array.from(all).map((e) => e._tag === "Gap" ? `gap ${e.from}-${e.to}` : `${e.message.sequence}`)

/** The events of a replay, read decoded and raw: both runs give the same messages and gaps. */
const events = (replay: Replay.Replay) =>
  Effect.gen(function*() {
    const decoded = listed(yield* Stream.runCollect(replay.events))
    const raw = listed(yield* Stream.runCollect(replay.rawEvents))
    assert.deepStrictEqual(raw, decoded, "rawEvents and events differ")
    return decoded
  })

/** A message that is not a Herald envelope: headers of another system, a text body. */
const foreign = (n: number): Wire.RawMessage => ({
  headers: { "Legacy-Id": `L-${n}`, "Content-Type": "text/plain" },
  body: new TextEncoder().encode(`legacy message ${n}`)
})

const appendForeign = (subject: string, n: number) =>
  EventLog.EventLog.use((log) => log.appendRaw(subject, foreign(n)))

/** Runs `stream` to its end or its failure: what it emitted, and the failure's reason if any. */
const until = <A>(stream: Stream.Stream<A, TransportError.TransportError>) =>
  Effect.gen(function*() {
    const got: Array<A> = []
    const exit = yield* Effect.exit(Stream.runForEach(stream, (a) => Effect.sync(() => void got.push(a))))
    const error = Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
    return { got, reason: error?.reason._tag }
  })

/** Runs `stream` with `progress` watched: the last progress. */
const lastProgress = <A>(replay: Replay.Replay, stream: Stream.Stream<A, TransportError.TransportError>) =>
  Effect.gen(function*() {
    const watch = yield* Effect.forkChild(Stream.runCollect(replay.progress))
    yield* Stream.runDrain(stream)
    const seen = Array.from(yield* Fiber.join(watch))
    const last = seen[seen.length - 1]!
    return { done: last.done, total: last.total, messages: last.messages, finished: last.finished }
  })

const refused = <A, E, R>(self: Effect.Effect<A, E, R>, detail: string) =>
  Effect.map(Effect.exit(self), (exit) => {
    const error = Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
    assert.isTrue(ReplayError.isReplayError(error), `expected a ReplayError, got ${String(error)}`)
    assert.strictEqual((error as ReplayError.ReplayError).message, `invalid replay configuration: ${detail}`)
  })

export const replaySuite = (harness: Harness) => {
  const { test } = harness

  /** A stream of `count` messages, odd ones on `<prefix>.a`, even ones on `<prefix>.b`. */
  const seeded = (count: number, config?: Partial<Topology.StreamConfig>) =>
    Effect.gen(function*() {
      const { prefix, stream } = unique()
      yield* Topology.ensure({ streams: [{ name: stream, subjects: [`${prefix}.>`], ...config }] })
      for (let n = 1; n <= count; n++) {
        yield* append(n % 2 === 1 ? `${prefix}.a` : `${prefix}.b`, n)
        yield* harness.tick
      }
      return { prefix, stream }
    })

  test("bySequence: from and to are inclusive; progress ends at total, finished", () =>
    Effect.gen(function*() {
      const { stream } = yield* seeded(10)
      const replay = yield* Replay.bySequence(stream, { from: 3, to: 7 })
      assert.deepStrictEqual([replay.from, replay.to, replay.total], [3, 7, 5])
      assert.deepStrictEqual(replay.purged, [])
      const progress = yield* Effect.forkChild(Stream.runCollect(replay.progress))
      assert.deepStrictEqual(yield* sequences(replay), [3, 4, 5, 6, 7])
      const seen = Array.from(yield* Fiber.join(progress))
      const last = seen[seen.length - 1]!
      assert.deepStrictEqual([last.done, last.total, last.messages, last.finished], [5, 5, 5, true])
      assert.isTrue(seen.every((p, i) => i === 0 || p.done >= seen[i - 1]!.done))
    }))

  test("bySequence without to ends at the last sequence when it was made, never waits for more", () =>
    Effect.gen(function*() {
      const { prefix, stream } = yield* seeded(10)
      const replay = yield* Replay.bySequence(stream, {})
      yield* append(`${prefix}.a`, 11)
      yield* append(`${prefix}.a`, 12)
      assert.deepStrictEqual([replay.from, replay.to], [1, 10])
      assert.deepStrictEqual(yield* sequences(replay), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    }))

  test("a filter keeps its subjects; a filtered replay reports no holes of its own", () =>
    Effect.gen(function*() {
      const { prefix, stream } = yield* seeded(10)
      const replay = yield* Replay.bySequence(stream, { from: 2, to: 9, filter: `${prefix}.a` })
      assert.deepStrictEqual(yield* events(replay), ["3", "5", "7", "9"])
      const wildcard = yield* Replay.bySequence(stream, { filter: `${prefix}.*` })
      assert.strictEqual((yield* sequences(wildcard)).length, 10)
    }))

  test("an empty range: past the end, or to = from - 1", () =>
    Effect.gen(function*() {
      const { stream } = yield* seeded(4)
      for (const options of [{ from: 5 }, { from: 50, to: 60 }, { from: 3, to: 2 }]) {
        const replay = yield* Replay.bySequence(stream, options)
        assert.strictEqual(replay.total, 0)
        assert.deepStrictEqual(yield* events(replay), [])
        assert.deepStrictEqual(replay.purged, [])
      }
      const { stream: empty } = yield* seeded(0)
      const none = yield* Replay.bySequence(empty, {})
      assert.deepStrictEqual([none.from, none.to, none.total], [1, 0, 0])
      assert.deepStrictEqual(yield* events(none), [])
    }))

  test("a range that starts in a purged part: the purged sequences reported first, then the kept ones", () =>
    Effect.gen(function*() {
      const { stream } = yield* seeded(10, { maxMessages: 4 })
      const replay = yield* Replay.bySequence(stream, { from: 2 })
      assert.deepStrictEqual(replay.purged, [{ from: 2, to: 6 }])
      assert.strictEqual(replay.total, 9)
      assert.deepStrictEqual(yield* events(replay), ["gap 2-6", "7", "8", "9", "10"])
      const within = yield* Replay.bySequence(stream, { from: 1, to: 3 })
      assert.deepStrictEqual(yield* events(within), ["gap 1-3"])
    }))

  test("holes between kept messages are reported where they are", () =>
    Effect.gen(function*() {
      const { prefix, stream } = unique()
      yield* Topology.ensure({ streams: [{ name: stream, subjects: [`${prefix}.>`], maxMessagesPerSubject: 1 }] })
      // 1: a, 2: b, 3: b (drops 2), 4: c, 5: c (drops 4), 6: d
      for (const [n, s] of [[1, "a"], [2, "b"], [3, "b"], [4, "c"], [5, "c"], [6, "d"]] as const) {
        yield* append(`${prefix}.${s}`, n)
      }
      const replay = yield* Replay.bySequence(stream, {})
      assert.deepStrictEqual(yield* events(replay), ["1", "gap 2-2", "3", "gap 4-4", "5", "6"])
    }))

  test("byTime: the first message at or after from, the last at or before to", () =>
    Effect.gen(function*() {
      const { stream } = yield* seeded(10)
      const log = yield* EventLog.EventLog
      const all = Array.from(yield* Stream.runCollect(log.read(stream)))
      const at = (sequence: number) => all[sequence - 1]!.timestamp
      const replay = yield* Replay.byTime(stream, { from: at(4), to: at(7) })
      assert.deepStrictEqual([replay.from, replay.to], [4, 7])
      assert.deepStrictEqual(yield* sequences(replay), [4, 5, 6, 7])
      // between two timestamps: the next message on, the previous one back
      const between = yield* Replay.byTime(stream, { from: at(3) + 1, to: new Date(at(8)) })
      assert.deepStrictEqual(yield* sequences(between), [4, 5, 6, 7, 8])
      const open = yield* Replay.byTime(stream, { from: at(9) })
      assert.deepStrictEqual(yield* sequences(open), [9, 10])
      const after = yield* Replay.byTime(stream, { from: at(10) + 60_000 })
      assert.strictEqual(after.total, 0)
      assert.deepStrictEqual(yield* sequences(after), [])
    }))

  test("bad ranges and paces are refused with InvalidConfig before anything is read", () =>
    Effect.gen(function*() {
      const { stream } = yield* seeded(2)
      yield* refused(Replay.bySequence(stream, { from: 0 }), "from must be a positive integer sequence, got 0")
      yield* refused(Replay.bySequence(stream, { from: 1.5 }), "from must be a positive integer sequence, got 1.5")
      yield* refused(
        Replay.bySequence(stream, { from: 5, to: 3 }),
        "to must be an integer sequence no lower than from - 1 (4), got 3"
      )
      yield* refused(
        Replay.bySequence(stream, { from: 1, pace: { speed: 0 } }),
        "pace.speed must be a positive number, got 0"
      )
      yield* refused(
        Replay.bySequence(stream, { from: 1, pace: { perSecond: Number.NaN } }),
        "pace.perSecond must be a positive number, got NaN"
      )
      yield* refused(Replay.byTime(stream, { from: 10, to: 5 }), "to must be a time no earlier than from, got 5")
      const missing = yield* Effect.exit(Replay.bySequence("NO_SUCH_STREAM", {}))
      assert.isTrue(Exit.isFailure(missing))
    }))

  test("scanCorrelation: one flow among unrelated messages, parents before children", () =>
    Effect.gen(function*() {
      const { prefix, stream } = unique()
      yield* Topology.ensure({ streams: [{ name: stream, subjects: [`${prefix}.>`] }] })
      const root = Fixtures.root(1)
      const child = (parent: MessageIdentity.MessageIdentity, n: number) => Fixtures.derived(parent, n)
      const a = child(root, 2)
      const b = child(root, 3)
      const a1 = child(a, 4)
      let noise = 1000
      // children stored before their parents, unrelated messages between
      for (const identity of [a1, b, a, root]) {
        yield* append(`${prefix}.noise`, noise, Fixtures.root(noise++))
        yield* append(`${prefix}.flow`, 0, identity)
      }
      const flow = yield* Replay.scanCorrelation(stream, root.correlationId, {})
      assert.deepStrictEqual(
        flow.messages.map((m) => m.envelope.identity.messageId),
        // b (sequence 4) before a (sequence 6): ties go by stream sequence
        [root.messageId, b.messageId, a.messageId, a1.messageId].map(String)
      )
      assert.deepStrictEqual(flow.orphans, [])
      assert.deepStrictEqual(flow.cycles, [])
    }))

  test("rawEvents: foreign messages are emitted as stored, with the holes and the progress of a decoded replay", () =>
    Effect.gen(function*() {
      const { prefix, stream } = unique()
      yield* Topology.ensure({ streams: [{ name: stream, subjects: [`${prefix}.>`], maxMessagesPerSubject: 1 }] })
      // 1: a, 2: b, 3: b foreign (drops 2), 4: c, 5: c (drops 4), 6: d foreign, 7: e
      yield* append(`${prefix}.a`, 1)
      yield* append(`${prefix}.b`, 2)
      yield* appendForeign(`${prefix}.b`, 3)
      yield* append(`${prefix}.c`, 4)
      yield* append(`${prefix}.c`, 5)
      yield* appendForeign(`${prefix}.d`, 6)
      yield* append(`${prefix}.e`, 7)
      const replay = yield* Replay.bySequence(stream, {})
      assert.deepStrictEqual([replay.from, replay.to, replay.total], [1, 7, 7])
      const raw = yield* until(replay.rawEvents)
      assert.isUndefined(raw.reason)
      assert.deepStrictEqual(listed(raw.got), ["1", "gap 2-2", "3", "gap 4-4", "5", "6", "7"])
      const stored = raw.got.flatMap((e) => e._tag === "Message" ? [e.message] : [])
      for (const [sequence, n] of [[3, 3], [6, 6]] as const) {
        const m = stored.find((m) => m.sequence === sequence)!
        assert.deepStrictEqual(m.raw.headers, foreign(n).headers)
        assert.deepStrictEqual(new TextDecoder().decode(m.raw.body), `legacy message ${n}`)
      }
      // a Herald message read raw is its stored headers and body: it decodes to what `read` gives
      const log = yield* EventLog.EventLog
      const decodedFirst = Option.getOrThrow(yield* log.get(stream, 1))
      assert.deepStrictEqual(stored[0]!.raw, decodedFirst.raw)
      assert.deepStrictEqual(
        Array.from(yield* Stream.runCollect(replay.rawMessages)).map((m) => m.sequence),
        [1, 3, 5, 6, 7]
      )
      assert.deepStrictEqual(yield* lastProgress(replay, replay.rawEvents), {
        done: 7,
        total: 7,
        messages: 5,
        finished: true
      })
      // decoded, the same range fails at the first foreign message, as before (how much
      // of what precedes it is emitted first depends on how the read is chunked)
      const decoded = yield* until(replay.events)
      assert.strictEqual(decoded.reason, "DecodeError")
      assert.deepStrictEqual(listed(decoded.got), ["1", "gap 2-2"].slice(0, decoded.got.length))
      // a range without a foreign message: raw and decoded end with the same progress
      const clean = yield* Replay.bySequence(stream, { from: 4, to: 5 })
      assert.deepStrictEqual(yield* events(clean), ["gap 4-4", "5"])
      assert.deepStrictEqual(
        yield* lastProgress(clean, clean.rawMessages),
        yield* lastProgress(clean, clean.messages)
      )
    }))

  test("rawEvents: a purged prefix, a filter and byTime bound the raw reading as the decoded one", () =>
    Effect.gen(function*() {
      const { prefix, stream } = unique()
      yield* Topology.ensure({ streams: [{ name: stream, subjects: [`${prefix}.>`], maxMessages: 5 }] })
      // 1-8, the foreign ones at 4 (on .a) and 7 (on .b); 1-3 are purged
      for (let n = 1; n <= 8; n++) {
        const subject = n % 2 === 0 ? `${prefix}.a` : `${prefix}.b`
        yield* (n === 4 || n === 7 ? appendForeign(subject, n) : append(subject, n))
        yield* harness.tick
      }
      const replay = yield* Replay.bySequence(stream, { from: 2 })
      assert.deepStrictEqual(replay.purged, [{ from: 2, to: 3 }])
      const raw = yield* until(replay.rawEvents)
      assert.isUndefined(raw.reason)
      assert.deepStrictEqual(listed(raw.got), ["gap 2-3", "4", "5", "6", "7", "8"])
      assert.deepStrictEqual(yield* lastProgress(replay, replay.rawMessages), {
        done: 7,
        total: 7,
        messages: 5,
        finished: true
      })
      const filtered = yield* Replay.bySequence(stream, { from: 4, filter: `${prefix}.a` })
      assert.deepStrictEqual(
        Array.from(yield* Stream.runCollect(filtered.rawMessages)).map((m) => m.sequence),
        [4, 6, 8]
      )
      const log = yield* EventLog.EventLog
      const at = (sequence: number) => Effect.map(log.getRaw(stream, sequence), (m) => Option.getOrThrow(m).timestamp)
      const byTime = yield* Replay.byTime(stream, { from: yield* at(6), to: yield* at(7) })
      assert.deepStrictEqual([byTime.from, byTime.to], [6, 7])
      const timed = yield* until(byTime.rawMessages)
      assert.isUndefined(timed.reason)
      assert.deepStrictEqual(timed.got.map((m) => [m.sequence, m.raw.headers["Legacy-Id"]]), [[6, undefined], [7, "L-7"]])
    }))
}
