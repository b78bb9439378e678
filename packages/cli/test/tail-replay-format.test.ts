import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { ReplayCommand, Resend, Tail } from "../src/index.ts"

const encoder = new TextEncoder()
const id = "0193a000-0000-7000-8000-000000000001"
const herald = (headers: Record<string, string> = {}) => ({
  "Herald-Message-Id": id,
  "Herald-Correlation-Id": id,
  "Herald-Causation-Id": id,
  "Herald-Type": "OrderPlaced",
  "Herald-Kind": "event",
  "Herald-Occurred-At": "2026-12-06T05:00:00.000Z",
  ...headers
})
const arrival = (headers: Record<string, string>, body: Uint8Array, status?: string) => ({
  subject: "orders.placed",
  raw: status === undefined ? { headers, body } : { headers, body, status },
  time: Date.UTC(2026, 11, 6, 5, 0, 1, 234),
  stream: undefined,
  sequence: undefined
})

describe("Tail", () => {
  it("bodyOf: JSON when it parses, else text, else base64", () => {
    expect(Tail.bodyOf(encoder.encode("{\"a\":1}"))).toEqual({ encoding: "json", value: { a: 1 } })
    expect(Tail.bodyOf(encoder.encode("42"))).toEqual({ encoding: "json", value: 42 })
    expect(Tail.bodyOf(encoder.encode("hello"))).toEqual({ encoding: "text", value: "hello" })
    expect(Tail.bodyOf(encoder.encode(" "))).toEqual({ encoding: "text", value: " " })
    expect(Tail.bodyOf(new Uint8Array([0xff, 0xfe]))).toEqual({ encoding: "base64", value: "//4=" })
  })

  it("entryText: a long body is cut in the text, kept whole in the entry", () => {
    const long = JSON.stringify({ note: "x".repeat(500) })
    const entry = Tail.entryOf(arrival(herald(), encoder.encode(long)))
    expect(entry.body).toEqual({ note: "x".repeat(500) })
    const lines = Tail.entryText(entry).split("\n")
    expect(lines).toHaveLength(3)
    expect(lines[0]).toBe("2026-12-06 05:00:01.234  orders.placed  OrderPlaced (event)")
    expect(lines[2]).toHaveLength(2 + Tail.bodyWidth)
    expect(lines[2]!.endsWith("…")).toBe(true)
  })

  it("entryText: a foreign message with a status line, binary and empty bodies", () => {
    const binary = Tail.entryOf(arrival({ "X-Trace": "t-1" }, new Uint8Array([0, 0xff]), "503 No Responders"))
    expect(binary.herald).toBe(false)
    expect(Tail.entryText(binary).split("\n")).toEqual([
      "2026-12-06 05:00:01.234  orders.placed  foreign",
      "  not a Herald message: cannot decode: the header block has a status line (\"503 No Responders\")",
      "  status: 503 No Responders",
      "  X-Trace: t-1",
      "  (2 B of binary, base64) AP8="
    ])
    const empty = Tail.entryOf(arrival(herald(), new Uint8Array()))
    expect(Tail.entryText(empty).split("\n").at(-1)).toBe("  (empty body)")
  })

  it.effect("validateSubject: wildcards pass, a malformed subject is one line", () =>
    Effect.gen(function*() {
      expect(yield* Tail.validateSubject("orders.*.>")).toBe("orders.*.>")
      const error = yield* Effect.flip(Tail.validateSubject("orders. x"))
      expect(error.message).toMatch(/^invalid subject "orders\. x": /)
    }))
})

describe("Resend", () => {
  it("copy: the headers without Nats-*, the new Nats-Msg-Id, the same body", () => {
    const body = encoder.encode("b")
    const copy = Resend.copy({ headers: { "Nats-Msg-Id": id, "nats-expected-stream": "X", "Herald-Message-Id": id, a: "1" }, body }, Resend.copyId("ORDERS", 7, 1_700_000_000_000))
    expect(copy).toEqual({ headers: { "Herald-Message-Id": id, a: "1", "Nats-Msg-Id": "retry:ORDERS:7:1700000000000" }, body })
  })
})

describe("ReplayCommand", () => {
  const progress = { done: 450, total: 1000, messages: 450, elapsedMillis: 1500, rate: 300, remainingMillis: 1833, finished: false }

  it("progressBar and progressLine: done/total, rate, time left", () => {
    expect(ReplayCommand.progressBar(progress, 10)).toBe("[####......]  450/1000  45%  300/s  2s left")
    expect(ReplayCommand.progressLine(progress)).toBe("replayed 450/1000 sequences (45%), 300/s, 2s left")
    expect(ReplayCommand.progressLine({ ...progress, done: 0, rate: 0, remainingMillis: undefined })).toBe(
      "replayed 0/1000 sequences (0%), 0.0/s, ? left"
    )
    expect(ReplayCommand.progressBar({ ...progress, done: 1000, finished: true, remainingMillis: 0 }, 4)).toBe(
      "[####]  1000/1000  100%  300/s  done"
    )
  })

  it("summaryText: what was appended where, with gaps and duplicates", () => {
    const summary = {
      stream: "ORDERS",
      from: 3,
      to: 14,
      toSubject: "orders.again",
      filter: null,
      sequences: 12,
      replayed: 10,
      duplicates: 1,
      gaps: 2,
      appended: { stream: "AGAIN", first: 40, last: 49 },
      elapsedMillis: 250
    }
    expect(ReplayCommand.summaryText(summary)).toBe(
      "replayed 10 messages of ORDERS #3-#14 to orders.again (AGAIN #40-#49) in 250ms; 2 sequences no longer stored, 1 append answered as duplicate"
    )
    expect(ReplayCommand.summaryText({ ...summary, replayed: 1, duplicates: 0, gaps: 0, from: 3, to: 3, appended: { stream: "AGAIN", first: 9, last: 9 } }))
      .toBe("replayed 1 message of ORDERS #3 to orders.again (AGAIN #9) in 250ms")
  })

  it.effect("position: a sequence, an ISO-8601 time or an age", () =>
    Effect.gen(function*() {
      const now = Date.UTC(2026, 11, 6, 12)
      expect(yield* ReplayCommand.position("100", now)).toEqual({ _tag: "Sequence", sequence: 100 })
      expect(yield* ReplayCommand.position("2026-12-01T10:00:00Z", now)).toEqual({ _tag: "Time", time: Date.UTC(2026, 11, 1, 10) })
      expect(yield* ReplayCommand.position("1h", now)).toEqual({ _tag: "Time", time: now - 3_600_000 })
      expect((yield* Effect.flip(ReplayCommand.position("0", now))).message).toBe("malformed sequence \"0\": expected a positive integer")
      expect((yield* Effect.flip(ReplayCommand.position("soon", now))).message).toMatch(/^malformed position "soon"/)
    }))
})
