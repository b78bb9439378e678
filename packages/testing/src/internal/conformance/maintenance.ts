/**
 * Conformance tests of stream maintenance and lookups: `Topology.purge`
 * (everything, up to a sequence, keeping the last messages, by subject, and
 * what `info`, `read` and consumers see afterwards) and `EventLog.get` /
 * `getRaw`.
 *
 * @internal
 */
import { EventLog, Topology, Wire } from "@herald/transport"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import type { SuiteContext } from "./context.ts"
import { ensure, info, lag, lagCounts, readAll } from "./helpers.ts"
import { failsWith, type Kit, nOf } from "./kit.ts"

const infoCounts = (i: EventLog.StreamInfo) => ({
  messages: i.messages,
  firstSequence: i.firstSequence,
  lastSequence: i.lastSequence
})

const purge = (stream: string, options?: Topology.PurgeOptions) =>
  Topology.Topology.use((t) => t.purge(stream, options))

const sequences = (stream: string) => Effect.map(readAll(stream), (ms) => ms.map((m) => m.sequence))

/**
 * A stream `orders` capturing `<prefix>.orders.>`, with messages 1..n on the
 * subjects given by `tokens` (one per message, under `orders`); message n
 * carries body `{ n }`.
 */
const seeded = (kit: Kit, tokens: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const stream = kit.name("orders")
    yield* ensure([{ name: stream, subjects: [kit.subject("orders", ">")] }])
    const log = yield* EventLog.EventLog
    for (let i = 0; i < tokens.length; i++) {
      yield* log.append(kit.subject("orders", ...tokens[i]!.split(".")), kit.envelope(i + 1))
    }
    return stream
  })

const abaab = ["a", "b", "a", "b", "a"]

/** @internal */
export const registerPurge = ({ test }: SuiteContext): void => {
  test("purge without options removes every message; the last sequence stays and the next append follows it", (kit) =>
    Effect.gen(function*() {
      const s = yield* seeded(kit, abaab)
      assert.deepStrictEqual(yield* purge(s), { purged: 5 })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 0, firstSequence: 0, lastSequence: 5 })
      assert.deepStrictEqual(yield* sequences(s), [])
      assert.deepStrictEqual(yield* purge(s), { purged: 0 })
      const log = yield* EventLog.EventLog
      assert.strictEqual((yield* log.append(kit.subject("orders", "a"), kit.envelope(6))).sequence, 6)
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 1, firstSequence: 6, lastSequence: 6 })
    }))

  test("purge of a stream never written purges nothing", (kit) =>
    Effect.gen(function*() {
      const s = yield* seeded(kit, [])
      assert.deepStrictEqual(yield* purge(s), { purged: 0 })
      assert.deepStrictEqual(yield* purge(s, { keep: 1 }), { purged: 0 })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 0, firstSequence: 0, lastSequence: 0 })
    }))

  test("purge upToSequence removes the messages below it, not the one at it", (kit) =>
    Effect.gen(function*() {
      const s = yield* seeded(kit, abaab)
      assert.deepStrictEqual(yield* purge(s, { upToSequence: 1 }), { purged: 0 })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 5, firstSequence: 1, lastSequence: 5 })
      assert.deepStrictEqual(yield* purge(s, { upToSequence: 3 }), { purged: 2 })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 3, firstSequence: 3, lastSequence: 5 })
      assert.deepStrictEqual(yield* sequences(s), [3, 4, 5])
      assert.deepStrictEqual((yield* readAll(s)).map(nOf), [3, 4, 5])
      assert.deepStrictEqual(yield* purge(s, { upToSequence: 3 }), { purged: 0 })
      assert.deepStrictEqual(yield* purge(s, { upToSequence: 5 }), { purged: 2 })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 1, firstSequence: 5, lastSequence: 5 })
    }))

  test("purge upToSequence past the last sequence empties the stream and keeps its last sequence", (kit) =>
    Effect.gen(function*() {
      const s = yield* seeded(kit, abaab)
      assert.deepStrictEqual(yield* purge(s, { upToSequence: 100 }), { purged: 5 })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 0, firstSequence: 0, lastSequence: 5 })
      const log = yield* EventLog.EventLog
      assert.strictEqual((yield* log.append(kit.subject("orders", "a"), kit.envelope(6))).sequence, 6)
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 1, firstSequence: 6, lastSequence: 6 })
    }))

  test("purge keep leaves the last N messages", (kit) =>
    Effect.gen(function*() {
      const s = yield* seeded(kit, abaab)
      assert.deepStrictEqual(yield* purge(s, { keep: 10 }), { purged: 0 })
      assert.deepStrictEqual(yield* purge(s, { keep: 5 }), { purged: 0 })
      assert.deepStrictEqual(yield* purge(s, { keep: 2 }), { purged: 3 })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 2, firstSequence: 4, lastSequence: 5 })
      assert.deepStrictEqual(yield* sequences(s), [4, 5])
      assert.deepStrictEqual(yield* purge(s, { keep: 0 }), { purged: 2 })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 0, firstSequence: 0, lastSequence: 5 })
    }))

  test("purge subject removes only the matching messages, in the middle or at the start", (kit) =>
    Effect.gen(function*() {
      const s = yield* seeded(kit, [...abaab, "eu.a"])
      assert.deepStrictEqual(yield* purge(s, { subject: kit.subject("orders", "b") }), { purged: 2 })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 4, firstSequence: 1, lastSequence: 6 })
      assert.deepStrictEqual(yield* sequences(s), [1, 3, 5, 6])
      assert.deepStrictEqual(yield* purge(s, { subject: kit.subject("orders", "b") }), { purged: 0 })
      assert.deepStrictEqual(yield* purge(s, { subject: kit.subject("nothing", "here") }), { purged: 0 })
      assert.deepStrictEqual(yield* purge(s, { subject: kit.subject("orders", "a") }), { purged: 3 })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 1, firstSequence: 6, lastSequence: 6 })
      assert.deepStrictEqual(yield* sequences(s), [6])
      assert.deepStrictEqual(yield* purge(s, { subject: kit.subject("orders", "eu", "a") }), { purged: 1 })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 0, firstSequence: 0, lastSequence: 6 })
    }))

  test("purge subject takes wildcards: * for one token, > for the rest, and > alone for everything", (kit) =>
    Effect.gen(function*() {
      const s = yield* seeded(kit, [...abaab, "eu.a"])
      assert.deepStrictEqual(yield* purge(s, { subject: kit.subject("orders", "*") }), { purged: 5 })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 1, firstSequence: 6, lastSequence: 6 })
      const log = yield* EventLog.EventLog
      yield* log.append(kit.subject("orders", "eu", "b"), kit.envelope(7))
      yield* log.append(kit.subject("orders", "us", "a"), kit.envelope(8))
      assert.deepStrictEqual(yield* purge(s, { subject: kit.subject("orders", "eu", ">") }), { purged: 2 })
      assert.deepStrictEqual(yield* sequences(s), [8])
      assert.deepStrictEqual(yield* purge(s, { subject: ">" }), { purged: 1 })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 0, firstSequence: 0, lastSequence: 8 })
    }))

  test("purge subject with upToSequence removes the matching messages below the sequence", (kit) =>
    Effect.gen(function*() {
      const s = yield* seeded(kit, abaab)
      assert.deepStrictEqual(yield* purge(s, { subject: kit.subject("orders", "a"), upToSequence: 4 }), { purged: 2 })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 3, firstSequence: 2, lastSequence: 5 })
      assert.deepStrictEqual(yield* sequences(s), [2, 4, 5])
      assert.deepStrictEqual(yield* purge(s, { subject: kit.subject("orders", "b"), upToSequence: 1 }), { purged: 0 })
      assert.deepStrictEqual(yield* purge(s, { subject: kit.subject("orders", "b"), upToSequence: 100 }), { purged: 2 })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 1, firstSequence: 5, lastSequence: 5 })
    }))

  test("purge subject with keep leaves the last N matching messages", (kit) =>
    Effect.gen(function*() {
      const s = yield* seeded(kit, abaab)
      assert.deepStrictEqual(yield* purge(s, { subject: kit.subject("orders", "a"), keep: 1 }), { purged: 2 })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 3, firstSequence: 2, lastSequence: 5 })
      assert.deepStrictEqual(yield* sequences(s), [2, 4, 5])
      assert.deepStrictEqual(yield* purge(s, { subject: kit.subject("orders", "b"), keep: 0 }), { purged: 2 })
      assert.deepStrictEqual(yield* sequences(s), [5])
    }))

  test("purge keep and upToSequence count stored messages across the gaps a subject purge leaves", (kit) =>
    Effect.gen(function*() {
      const s = yield* seeded(kit, abaab)
      assert.deepStrictEqual(yield* purge(s, { subject: kit.subject("orders", "b") }), { purged: 2 })
      // 1, 3, 5 left: keep 2 keeps two messages, not two sequences.
      assert.deepStrictEqual(yield* purge(s, { keep: 2 }), { purged: 1 })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 2, firstSequence: 3, lastSequence: 5 })
      assert.deepStrictEqual(yield* sequences(s), [3, 5])
      // Up to a sequence that was purged: nothing comes back.
      assert.deepStrictEqual(yield* purge(s, { upToSequence: 4 }), { purged: 1 })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 1, firstSequence: 5, lastSequence: 5 })
      assert.deepStrictEqual(yield* sequences(s), [5])
      const log = yield* EventLog.EventLog
      assert.isTrue(Option.isNone(yield* log.getRaw(s, 4)))
    }))

  test("purge works the same on a stream capturing subjects of one token and of several", (kit) =>
    Effect.gen(function*() {
      const s = kit.name("mixed")
      const one = kit.prefix
      const several = kit.subject("orders", "a")
      yield* ensure([{ name: s, subjects: [one, kit.subject("orders", ">")] }])
      const log = yield* EventLog.EventLog
      for (let n = 1; n <= 6; n++) yield* log.append(n % 2 === 1 ? one : several, kit.envelope(n))
      assert.deepStrictEqual(yield* purge(s, { subject: one }), { purged: 3 })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 3, firstSequence: 2, lastSequence: 6 })
      assert.deepStrictEqual(yield* purge(s, { keep: 2 }), { purged: 1 })
      assert.deepStrictEqual(yield* sequences(s), [4, 6])
      assert.deepStrictEqual(yield* purge(s, { upToSequence: 6 }), { purged: 1 })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 1, firstSequence: 6, lastSequence: 6 })
      assert.deepStrictEqual(yield* purge(s, { upToSequence: 7 }), { purged: 1 })
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 0, firstSequence: 0, lastSequence: 6 })
    }))

  test("after a whole-stream purge a durable consumer starts at the first message left", (kit) =>
    Effect.gen(function*() {
      const s = yield* seeded(kit, abaab)
      const c = kit.name("audit")
      yield* ensure([], [{ stream: s, name: c }])
      assert.deepStrictEqual(yield* purge(s, { upToSequence: 3 }), { purged: 2 })
      assert.deepStrictEqual(lagCounts(yield* lag(s, c)), {
        pending: 3,
        ackPending: 0,
        redelivered: 0,
        delivered: 2,
        ackFloor: 2
      })
      const got = yield* kit.fetch(s, c, { batch: 10 })
      assert.deepStrictEqual(got.map((d) => d.streamSequence), [3, 4, 5])
      for (const d of got) yield* d.ack
      assert.deepStrictEqual(yield* purge(s), { purged: 3 })
      const log = yield* EventLog.EventLog
      yield* log.append(kit.subject("orders", "a"), kit.envelope(6))
      const next = yield* kit.fetch(s, c, { batch: 10 })
      assert.deepStrictEqual(next.map((d) => d.streamSequence), [6])
      assert.deepStrictEqual(next.map(nOf), [6])
      for (const d of next) yield* d.ack
    }))

  test("after a subject purge a durable consumer still gets the other subjects' messages", (kit) =>
    Effect.gen(function*() {
      const s = yield* seeded(kit, abaab)
      const c = kit.name("audit")
      yield* ensure([], [{ stream: s, name: c }])
      assert.deepStrictEqual(yield* purge(s, { subject: kit.subject("orders", "b") }), { purged: 2 })
      assert.deepStrictEqual(lagCounts(yield* lag(s, c)), {
        pending: 3,
        ackPending: 0,
        redelivered: 0,
        delivered: 0,
        ackFloor: 0
      })
      const got = yield* kit.fetch(s, c, { batch: 10 })
      assert.deepStrictEqual(got.map((d) => d.streamSequence), [1, 3, 5])
      for (const d of got) yield* d.ack
      assert.deepStrictEqual(yield* purge(s, { subject: kit.subject("orders", "a"), keep: 1 }), { purged: 2 })
      yield* EventLog.EventLog.use((log) => log.append(kit.subject("orders", "b"), kit.envelope(6)))
      const next = yield* kit.fetch(s, c, { batch: 10 })
      assert.deepStrictEqual(next.map((d) => d.streamSequence), [6])
      for (const d of next) yield* d.ack
    }))

  test("purge refuses bad options with InvalidConfig naming them, before removing anything", (kit) =>
    Effect.gen(function*() {
      const s = yield* seeded(kit, abaab)
      const cases: ReadonlyArray<readonly [Topology.PurgeOptions, string]> = [
        [{ upToSequence: 2, keep: 1 }, "upToSequence and keep"],
        [{ subject: kit.subject("orders", "a"), upToSequence: 2, keep: 1 }, "upToSequence and keep"],
        [{ upToSequence: 0 }, "upToSequence"],
        [{ upToSequence: -3 }, "upToSequence"],
        [{ upToSequence: 1.5 }, "upToSequence"],
        [{ upToSequence: Number.POSITIVE_INFINITY }, "upToSequence"],
        [{ keep: -1 }, "keep"],
        [{ keep: 0.5 }, "keep"],
        [{ keep: Number.NaN }, "keep"],
        [{ subject: "" }, "subject"],
        [{ subject: `${kit.prefix}..orders` }, "subject"],
        [{ subject: kit.subject("orders", ">", "a") }, "subject"],
        [{ subject: `${kit.prefix} orders` }, "subject"],
        [{ upToSequence: "3" as unknown as number }, "upToSequence"]
      ]
      for (const [options, named] of cases) {
        const reason = yield* failsWith(purge(s, options), "InvalidConfig")
        assert.include(reason.detail, named, JSON.stringify(options))
      }
      const badName = yield* failsWith(purge(`${s}.x`), "InvalidConfig")
      assert.include(badName.detail, "stream name")
      assert.deepStrictEqual(infoCounts(yield* info(s)), { messages: 5, firstSequence: 1, lastSequence: 5 })
    }))

  test("purge of an unknown stream fails with StreamNotFound", (kit) =>
    Effect.gen(function*() {
      const missing = kit.name("missing")
      assert.strictEqual((yield* failsWith(purge(missing), "StreamNotFound")).stream, missing)
      assert.strictEqual((yield* failsWith(purge(missing, { keep: 1 }), "StreamNotFound")).stream, missing)
      assert.strictEqual(
        (yield* failsWith(purge(missing, { subject: kit.subject("orders", "a"), upToSequence: 1 }), "StreamNotFound")).stream,
        missing
      )
    }))
}

const rawOf = (kit: Kit, headers: Record<string, string>, body: string): Wire.RawMessage => ({
  headers: { [Wire.HeaderNames.natsMsgId]: `${kit.prefix}-raw`, ...headers },
  body: new TextEncoder().encode(body)
})

/** @internal */
export const registerGet = ({ test }: SuiteContext): void => {
  test("get returns the message stored at a sequence, as read returns it", (kit) =>
    Effect.gen(function*() {
      const s = yield* seeded(kit, ["a", "b", "eu.c"])
      const log = yield* EventLog.EventLog
      const read = yield* readAll(s)
      const readRaw = yield* Stream.runCollect(log.readRaw(s))
      for (let sequence = 1; sequence <= 3; sequence++) {
        const got = yield* log.get(s, sequence)
        assert.isTrue(Option.isSome(got), `sequence ${sequence}`)
        const message = Option.getOrThrow(got)
        const expected = read[sequence - 1]!
        assert.strictEqual(message.sequence, sequence)
        assert.strictEqual(message.stream, s)
        assert.strictEqual(message.subject, expected.subject)
        assert.strictEqual(message.timestamp, expected.timestamp)
        assert.deepStrictEqual(message.raw.headers, expected.raw.headers)
        assert.deepStrictEqual([...message.raw.body], [...expected.raw.body])
        assert.deepStrictEqual(message.envelope, expected.envelope)
        assert.strictEqual(nOf(message), sequence)
        const raw = Option.getOrThrow(yield* log.getRaw(s, sequence))
        const expectedRaw = readRaw[sequence - 1]!
        assert.deepStrictEqual(
          [raw.subject, raw.stream, raw.sequence, raw.timestamp, raw.raw.headers, [...raw.raw.body]],
          [expectedRaw.subject, expectedRaw.stream, expectedRaw.sequence, expectedRaw.timestamp, expectedRaw.raw.headers, [
            ...expectedRaw.raw.body
          ]]
        )
      }
      assert.deepStrictEqual(
        [kit.subject("orders", "a"), kit.subject("orders", "b"), kit.subject("orders", "eu", "c")],
        read.map((m) => m.subject)
      )
    }))

  test("get answers none past the last sequence, and for deleted and purged messages", (kit) =>
    Effect.gen(function*() {
      const s = yield* seeded(kit, abaab)
      const log = yield* EventLog.EventLog
      assert.isTrue(Option.isNone(yield* log.get(s, 6)))
      assert.isTrue(Option.isNone(yield* log.getRaw(s, 1_000_000)))
      yield* Topology.Topology.use((t) => t.purge(s, { subject: kit.subject("orders", "b") }))
      assert.isTrue(Option.isNone(yield* log.get(s, 2)))
      assert.isTrue(Option.isNone(yield* log.getRaw(s, 4)))
      assert.strictEqual(nOf(Option.getOrThrow(yield* log.get(s, 3))), 3)
      yield* Topology.Topology.use((t) => t.purge(s, { upToSequence: 4 }))
      assert.isTrue(Option.isNone(yield* log.get(s, 1)))
      assert.isTrue(Option.isNone(yield* log.get(s, 3)))
      assert.strictEqual(nOf(Option.getOrThrow(yield* log.get(s, 5))), 5)
      yield* Topology.Topology.use((t) => t.purge(s))
      for (let sequence = 1; sequence <= 6; sequence++) assert.isTrue(Option.isNone(yield* log.get(s, sequence)))
    }))

  test("get of a message that is not an envelope fails with DecodeError; getRaw returns it", (kit) =>
    Effect.gen(function*() {
      const s = yield* seeded(kit, ["a"])
      const log = yield* EventLog.EventLog
      const appended = yield* log.appendRaw(kit.subject("orders", "plain"), rawOf(kit, { "x-other": "1" }, "{\"plain\":true}"))
      assert.strictEqual(appended.sequence, 2)
      const reason = yield* failsWith(log.get(s, 2), "DecodeError")
      assert.include(reason.detail, `stream ${s} sequence 2`)
      const raw = Option.getOrThrow(yield* log.getRaw(s, 2))
      assert.deepStrictEqual([raw.subject, raw.sequence, raw.raw.headers["x-other"]], [kit.subject("orders", "plain"), 2, "1"])
      assert.strictEqual(new TextDecoder().decode(raw.raw.body), "{\"plain\":true}")
      // The same failure as read's.
      const readFailure = yield* Effect.result(readAll(s))
      assert.isTrue(Result.isFailure(readFailure))
      assert.strictEqual(nOf(Option.getOrThrow(yield* log.get(s, 1))), 1)
    }))

  test("get refuses a sequence that is not a positive integer with InvalidConfig, and an unknown stream with StreamNotFound", (kit) =>
    Effect.gen(function*() {
      const s = yield* seeded(kit, ["a"])
      const log = yield* EventLog.EventLog
      for (const sequence of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        assert.include((yield* failsWith(log.get(s, sequence), "InvalidConfig")).detail, "sequence", String(sequence))
        assert.include((yield* failsWith(log.getRaw(s, sequence), "InvalidConfig")).detail, "sequence", String(sequence))
      }
      assert.include((yield* failsWith(log.get(`${s}.x`, 1), "InvalidConfig")).detail, "stream name")
      const missing = kit.name("missing")
      assert.strictEqual((yield* failsWith(log.get(missing, 1), "StreamNotFound")).stream, missing)
      assert.strictEqual((yield* failsWith(log.getRaw(missing, 1), "StreamNotFound")).stream, missing)
    }))
}
