/**
 * Poison messages on a real nats-server: a plain nats.js client (no Herald
 * checks on what it writes) stores 1,000 messages, 35 % of them crafted bad
 * in eleven ways, into a stream that a Herald runner consumes with the
 * consumer's default `maxDeliver` (unlimited).
 *
 * Every count is exact: every good message handled once, every bad one
 * dead-lettered once on its first delivery with a reason naming what was
 * wrong, nothing lost, the runner never stops, and the consumer's lag
 * reaches 0.
 */
import { Fixtures, NatsServer, Wait } from "@herald/testing"
import { DeadLetter, EventLog, Message, Middleware, Topology, Wire } from "@herald/transport"
import { assert, describe, it } from "@effect/vitest"
import { MsgHdrsImpl } from "@nats-io/nats-core"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { NatsConnection, NatsTransport } from "../src/index.ts"

const Ping = Message.event("herald.poison.Ping", Schema.Struct({ n: Schema.Number }))

const encoder = new TextEncoder()
const maxPayload = 64 * 1024

/** Headers exactly as given: nats.js checks nothing when they are set on its map directly. */
const rawHeaders = (pairs: ReadonlyArray<readonly [string, string]>, status?: readonly [number, string]) => {
  const h = status === undefined ? new MsgHdrsImpl() : new MsgHdrsImpl(status[0], status[1])
  for (const [name, value] of pairs) h.headers.set(name, [...(h.headers.get(name) ?? []), value])
  return h
}

/** A good message's headers and body, as Herald writes them. */
const good = (n: number): Wire.RawMessage => {
  const envelope = Fixtures.envelope({ identity: n, type: Ping.type, payload: { n } })
  return Result.getOrThrow(Wire.encode(envelope))
}
const pairsOf = (raw: Wire.RawMessage): Array<readonly [string, string]> => Object.entries(raw.headers)
const without = (raw: Wire.RawMessage, name: string) => pairsOf(raw).filter(([k]) => k !== name)

interface Crafted {
  readonly headers: MsgHdrsImpl | undefined
  readonly body: Uint8Array
}

interface Kind {
  readonly name: string
  readonly craft: (n: number) => Crafted
  /** What the dead letter's reason must say. */
  readonly reason: RegExp
  /** Checks the dead letter beyond its reason. */
  readonly check?: (letter: Wire.RawMessage, crafted: Crafted) => void
}

const empty = new Uint8Array(0)
const statuses: ReadonlyArray<readonly [number, string]> = [
  [100, "Idle Heartbeat"],
  [400, "Bad Request"],
  [404, "No Messages"],
  [408, "Request Timeout"],
  [409, "Consumer Deleted"],
  [503, "No Responders"]
]

const bodyKept = (letter: Wire.RawMessage, crafted: Crafted) =>
  assert.deepStrictEqual([...letter.body], [...crafted.body], "the original body is kept")

const escaped = (letter: Wire.RawMessage): Array<[string, string]> =>
  JSON.parse(letter.headers[DeadLetter.HeaderNames.escapedHeaders] ?? "[]") as Array<[string, string]>

const kinds: ReadonlyArray<Kind> = [
  ...statuses.map(([code, description]): Kind => ({
    name: `status-${code}`,
    craft: () => ({ headers: rawHeaders([], [code, description]), body: empty }),
    reason: new RegExp(`status line \\(NATS/1\\.0 ${code} ${description}\\)`),
    check: (letter) => assert.strictEqual(letter.headers[DeadLetter.HeaderNames.status], `${code} ${description}`)
  })),
  {
    name: "empty-header-name",
    craft: (n) => ({ headers: rawHeaders([...pairsOf(good(n)), ["", "no name"]]), body: good(n).body }),
    reason: /header name "" is not a token/,
    check: (letter, crafted) => {
      bodyKept(letter, crafted)
      assert.deepStrictEqual(escaped(letter), [["", "no name"]])
    }
  },
  {
    name: "invalid-header-name",
    craft: (n) => ({ headers: rawHeaders([...pairsOf(good(n)), ["Bad Name\u0001", "x"]]), body: good(n).body }),
    reason: /header name "Bad Name\\u0001" is not a token/,
    check: (letter, crafted) => {
      bodyKept(letter, crafted)
      assert.deepStrictEqual(escaped(letter), [["Bad Name\u0001", "x"]])
    }
  },
  {
    name: "newline-in-value",
    craft: (n) => ({ headers: rawHeaders([...pairsOf(good(n)), ["X-Note", "one\ntwo"]]), body: good(n).body }),
    reason: /header "X-Note": value contains CR or LF/,
    check: (letter, crafted) => {
      bodyKept(letter, crafted)
      assert.deepStrictEqual(escaped(letter), [["X-Note", "one\ntwo"]])
    }
  },
  {
    name: "no-herald-headers",
    craft: (n) => ({ headers: rawHeaders([["X-Foreign", "yes"]]), body: encoder.encode(JSON.stringify({ n })) }),
    reason: /Herald-Message-Id/,
    check: bodyKept
  },
  {
    name: "no-headers-at-all",
    craft: (n) => ({ headers: undefined, body: encoder.encode(JSON.stringify({ n })) }),
    reason: /Herald-Message-Id/,
    check: bodyKept
  },
  {
    name: "bad-json",
    craft: (n) => ({ headers: rawHeaders(pairsOf(good(n))), body: encoder.encode(`{"n": ${n},`) }),
    reason: /non-retryable failure: .*cannot decode/,
    check: bodyKept
  },
  {
    name: "wrong-schema",
    craft: (n) => ({ headers: rawHeaders(pairsOf(good(n))), body: encoder.encode(JSON.stringify({ n: `#${n}` })) }),
    reason: /non-retryable failure: .*cannot decode: herald\.poison\.Ping/,
    check: bodyKept
  },
  {
    name: "control-char-in-id",
    craft: (n) => ({
      headers: rawHeaders([...without(good(n), "Herald-Message-Id"), ["Herald-Message-Id", `id\u0007${n}`]]),
      body: good(n).body
    }),
    reason: /Herald-Message-Id/,
    check: bodyKept
  },
  {
    name: "oversize-value",
    // Within max_payload, but not its dead letter with the dead-letter headers added.
    craft: (n) => ({
      headers: rawHeaders([
        ...without(good(n), "Herald-Type"),
        ["X-Big", "v".repeat(maxPayload - Wire.payloadSize(good(n)) - 100)]
      ]),
      body: good(n).body
    }),
    reason: /Herald-Type/,
    check: (letter, crafted) => {
      bodyKept(letter, crafted)
      assert.strictEqual(letter.headers["X-Big"], undefined)
      // Every original header but its Nats-Msg-Id (the message id, which the dead letter replaces).
      assert.strictEqual(letter.headers[DeadLetter.HeaderNames.droppedHeaders], String(crafted.headers!.headers.size - 1))
      assert.ok(Wire.payloadSize(letter) <= maxPayload)
    }
  }
]

const total = 1_000
const badShare = 0.35

/** Which message is what: deterministic, bad ones spread through the stream. */
const plan = (): ReadonlyArray<{ readonly n: number; readonly kind: Kind | undefined }> => {
  const out: Array<{ readonly n: number; readonly kind: Kind | undefined }> = []
  let bad = 0
  for (let n = 1; n <= total; n++) {
    // Bad when the running share falls below 35 %: every kind in turn.
    if (bad < Math.round(n * badShare)) {
      out.push({ n, kind: kinds[bad % kinds.length] })
      bad++
    } else out.push({ n, kind: undefined })
  }
  return out
}

const report = (line: string) => Effect.sync(() => console.log(`[poison] ${line}`))

describe("transport-nats poison messages", () => {
  it.live(
    "1,000 messages, 35 % crafted bad in 15 ways, default maxDeliver: good ones handled once, bad ones dead-lettered once on their first delivery with the reason, none lost, the runner never stops",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* NatsServer.make({ maxPayload })
        yield* Effect.gen(function*() {
          const log = yield* EventLog.EventLog
          const { client } = yield* NatsConnection.NatsConnection
          const stream = "POISON"
          const dlq = Topology.deadLetterStream({ name: "POISON_DLQ", subjects: ["poison.dlq"] })
          yield* Topology.ensure({
            streams: [{ name: stream, subjects: ["poison.in.>"] }, dlq],
            // The consumer's defaults: maxDeliver unlimited.
            consumers: [{ stream, name: "runner", deadLetterSubject: "poison.dlq" }]
          })

          const messages = plan()
          const badCount = messages.filter((m) => m.kind !== undefined).length
          const goodCount = total - badCount
          const crafted = new Map<string, { readonly kind: Kind; readonly crafted: Crafted }>()
          assert.ok(badCount >= 0.3 * total)
          assert.ok(new Set(messages.flatMap((m) => (m.kind === undefined ? [] : [m.kind.name]))).size >= 8)

          const handled = new Map<number, number>()
          const handle = yield* log.consume(
            stream,
            "runner",
            Middleware.decode(Ping, (ping) => Effect.sync(() => void handled.set(ping.n, (handled.get(ping.n) ?? 0) + 1))),
            { concurrency: 4 }
          )

          // A plain nats.js client writes every message; the stream stores them all.
          for (const { kind, n } of messages) {
            if (kind === undefined) {
              const raw = good(n)
              client.publish(`poison.in.good.${n}`, raw.body, { headers: rawHeaders(pairsOf(raw)) })
            } else {
              const c = kind.craft(n)
              const subject = `poison.in.bad.${kind.name}.${n}`
              crafted.set(subject, { kind, crafted: c })
              client.publish(subject, c.body, c.headers === undefined ? undefined : { headers: c.headers })
            }
          }
          yield* Effect.promise(() => client.flush())
          yield* Wait.whileRunning(
            handle,
            Wait.until(log.info(stream), (i) => i.messages === total, "every message stored")
          )

          yield* Wait.whileRunning(
            handle,
            Wait.until(
              log.lag(stream, "runner"),
              (l) => l.pending === 0 && l.ackPending === 0,
              "the consumer's lag at 0",
              { bound: "60 seconds" }
            )
          )
          const stats = yield* Wait.whileRunning(
            handle,
            Wait.until(handle.stats, (s) => s.acked + s.deadLettered >= total, "every message settled")
          )
          const letters = yield* Stream.runCollect(log.readRaw(dlq.name))
          yield* report(`stats ${JSON.stringify(stats)}; dead letters ${letters.length}`)

          // Good messages: each handled exactly once.
          assert.strictEqual(handled.size, goodCount, "good messages handled")
          assert.deepStrictEqual([...handled.values()].filter((k) => k !== 1), [], "good messages handled more than once")
          for (const { kind, n } of messages) {
            if (kind === undefined) assert.strictEqual(handled.get(n), 1, `good message ${n}`)
          }

          // Bad messages: each dead-lettered exactly once, on its first delivery, with the reason.
          assert.strictEqual(letters.length, badCount, "dead letters")
          const seen = new Set<string>()
          const byKind = new Map<string, number>()
          for (const letter of letters) {
            const info = DeadLetter.parse(letter.raw)
            if (info === undefined) return assert.fail(`not a dead letter: ${JSON.stringify(letter.raw.headers)}`)
            const entry = crafted.get(info.subject)
            if (entry === undefined) return assert.fail(`a dead letter of a good message: ${info.subject}: ${info.reason}`)
            assert.ok(!seen.has(info.subject), `dead-lettered twice: ${info.subject}`)
            seen.add(info.subject)
            assert.strictEqual(info.deliveryCount, 1, `${info.subject} dead-lettered on its first delivery`)
            assert.match(info.reason, entry.kind.reason, `${info.subject}: the reason names what was wrong`)
            entry.kind.check?.(letter.raw, entry.crafted)
            byKind.set(entry.kind.name, (byKind.get(entry.kind.name) ?? 0) + 1)
          }
          yield* report(`dead letters by kind ${JSON.stringify([...byKind])}`)
          assert.strictEqual(byKind.size, kinds.length, "every kind dead-lettered")
          assert.deepStrictEqual(
            { ...stats },
            { acked: goodCount, naked: 0, termed: badCount, deadLettered: badCount, inFlight: 0, timedOut: 0 }
          )
        }).pipe(Effect.provide(NatsTransport.layer({ servers: server.url, name: "poison" })))
      })),
    120_000
  )
})
