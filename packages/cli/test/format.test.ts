import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Format, Input } from "../src/index.ts"

describe("Format", () => {
  it("table: columns padded to the widest cell, right-aligned where asked; (none) when empty", () => {
    expect(Format.table(["Name", "N"], [["a", "1"], ["bbb", "22"]], ["left", "right"])).toBe(
      "Name   N\n----  --\na      1\nbbb   22"
    )
    expect(Format.table(["Name", "N"], [])).toBe("Name  N\n----  -\n(none)")
  })

  it("bytes, time, ago, duration, clip", () => {
    expect([Format.bytes(0), Format.bytes(1023), Format.bytes(1536), Format.bytes(5 * 1024 ** 3)]).toEqual([
      "0 B",
      "1023 B",
      "1.5 KiB",
      "5.0 GiB"
    ])
    expect(Format.time(Date.UTC(2026, 11, 6, 5, 20, 1, 999))).toBe("2026-12-06 05:20:01")
    const now = Date.UTC(2026, 0, 10)
    expect([4_000, 300_000, 3 * 3_600_000, 5 * 86_400_000].map((ms) => Format.ago(now - ms, now))).toEqual([
      "4s ago",
      "5m ago",
      "3h ago",
      "5d ago"
    ])
    expect([0, 250, 30_000, 60_000, 90_000].map(Format.duration)).toEqual(["-", "250ms", "30s", "1m", "1m30s"])
    expect(Format.clip("a\nb", 10)).toBe("a b")
    expect(Format.clip("abcdef", 4)).toBe("abc…")
  })
})

describe("Input", () => {
  const outcome = <A>(effect: Effect.Effect<A, { readonly message: string }>) =>
    Effect.runSync(Effect.match(effect, { onFailure: (e) => e.message, onSuccess: (a) => a }))

  it("sequence: decimal digits of a positive safe integer", () => {
    expect(outcome(Input.sequence("42"))).toBe(42)
    for (const text of ["0", "-1", "1.5", "1e3", " 1", "", "9007199254740993", "x"]) {
      expect(outcome(Input.sequence(text))).toBe(`malformed sequence ${JSON.stringify(text)}: expected a positive integer`)
    }
  })

  it("since: an ISO-8601 time or an age before now", () => {
    const now = Date.UTC(2026, 0, 10)
    expect(outcome(Input.since("2026-01-02", now))).toBe(Date.UTC(2026, 0, 2))
    expect(outcome(Input.since("2026-01-02T03:04:05Z", now))).toBe(Date.UTC(2026, 0, 2, 3, 4, 5))
    expect([outcome(Input.since("90s", now)), outcome(Input.since("2h", now)), outcome(Input.since("7d", now))]).toEqual([
      now - 90_000,
      now - 7_200_000,
      now - 7 * 86_400_000
    ])
    for (const text of ["yesterday", "15", "1w", "2026-13-45"]) {
      expect(outcome(Input.since(text, now))).toBe(
        `malformed time ${JSON.stringify(text)}: expected an ISO-8601 time or an age such as 90s, 15m, 2h, 7d`
      )
    }
  })

  it("limit: a positive integer", () => {
    expect(outcome(Input.limit(3))).toBe(3)
    expect(outcome(Input.limit(0))).toBe("malformed limit 0: expected a positive integer")
  })
})
