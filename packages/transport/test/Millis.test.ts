import { describe, expect, it } from "@effect/vitest"
import { Millis } from "@herald/transport"
import * as Duration from "effect/Duration"
import * as Result from "effect/Result"
import * as fc from "fast-check"

const problemOf = (r: Result.Result<number, Millis.Problem>) => Result.isFailure(r) ? r.failure._tag : "ok"

describe("Millis", () => {
  describe("decode", () => {
    it("reads every form of Duration.Input", () => {
      expect(Millis.decode(1500)).toEqual(Result.succeed(1500))
      expect(Millis.decode("2 seconds")).toEqual(Result.succeed(2000))
      expect(Millis.decode(Duration.minutes(1))).toEqual(Result.succeed(60_000))
      expect(Millis.decode(3_000_000n)).toEqual(Result.succeed(3))
      expect(Millis.decode([1, 500_000_000])).toEqual(Result.succeed(1500))
      expect(Millis.decode({ seconds: 1, milliseconds: 5 })).toEqual(Result.succeed(1005))
      expect(Millis.decode(0)).toEqual(Result.succeed(0))
    })

    it("rounds a fraction of a millisecond up, so a positive duration is never 0 ms", () => {
      expect(Millis.decode("1500 micros")).toEqual(Result.succeed(2))
      expect(Millis.decode("1 nano")).toEqual(Result.succeed(1))
      expect(Millis.decode(0.25)).toEqual(Result.succeed(1))
      expect(Millis.decode(Duration.nanos(2_000_001n))).toEqual(Result.succeed(3))
      expect(Millis.decode(Duration.seconds(1.1))).toEqual(Result.succeed(1100))
    })

    it("refuses infinite, negative and unreadable input with the reason", () => {
      expect(problemOf(Millis.decode("Infinity"))).toBe("Infinite")
      expect(problemOf(Millis.decode(Number.POSITIVE_INFINITY))).toBe("Infinite")
      expect(problemOf(Millis.decode(Duration.infinity))).toBe("Infinite")
      expect(problemOf(Millis.decode("-Infinity"))).toBe("Infinite")
      expect(problemOf(Millis.decode(-1))).toBe("Negative")
      expect(problemOf(Millis.decode("-5 seconds"))).toBe("Negative")
      expect(problemOf(Millis.decode(-0.5))).toBe("Negative")
      expect(problemOf(Millis.decode(Number.NaN))).toBe("NotADuration")
      expect(problemOf(Millis.decode("soon" as never))).toBe("NotADuration")
      expect(problemOf(Millis.decode(null as never))).toBe("NotADuration")
      expect(problemOf(Millis.decode(undefined as never))).toBe("NotADuration")
      expect(problemOf(Millis.decode(Symbol("x") as never))).toBe("NotADuration")
      expect(problemOf(Millis.decode([1, 2, 3] as never))).toBe("NotADuration")
    })

    it("names the input in the message, cut short when long", () => {
      const failure = (r: Result.Result<number, Millis.Problem>) => Result.isFailure(r) ? r.failure.message : ""
      expect(failure(Millis.decode("Infinity"))).toBe("\"Infinity\" is not finite")
      expect(failure(Millis.decode(-1))).toBe("-1 is negative")
      expect(failure(Millis.decode(0, { min: 1 }))).toBe("0 is less than 1 ms")
      expect(failure(Millis.decode("x".repeat(10_000) as never)).length).toBeLessThan(100)
    })

    it("applies the minimum after rounding up", () => {
      expect(problemOf(Millis.decode(0, { min: 1 }))).toBe("BelowMinimum")
      expect(Millis.decode("1 nano", { min: 1 })).toEqual(Result.succeed(1))
      expect(problemOf(Millis.decode("999 millis", { min: 1000 }))).toBe("BelowMinimum")
      expect(Millis.decode("1 second", { min: 1000 })).toEqual(Result.succeed(1000))
    })

    it("answers a finite, whole, non-negative number at least the minimum, or a problem, never throws", () => {
      const input = fc.oneof(
        fc.double(),
        fc.bigInt(),
        fc.string(),
        fc.tuple(fc.double(), fc.double()),
        fc.record({ seconds: fc.double(), milliseconds: fc.double() }, { requiredKeys: [] }),
        fc.anything()
      )
      fc.assert(
        fc.property(input, fc.nat(10_000), (u, min) => {
          const r = Millis.decode(u as Duration.Input, { min })
          if (Result.isSuccess(r)) {
            expect(Number.isInteger(r.success)).toBe(true)
            expect(r.success).toBeGreaterThanOrEqual(min)
          } else {
            expect(["NotADuration", "Infinite", "Negative", "BelowMinimum"]).toContain(r.failure._tag)
            expect(typeof r.failure.message).toBe("string")
          }
        }),
        { numRuns: 2_000 }
      )
    })
  })

  describe("orElse", () => {
    it("answers the fallback for an absent or refused input", () => {
      expect(Millis.orElse(undefined, 7)).toBe(7)
      expect(Millis.orElse("Infinity", 7)).toBe(7)
      expect(Millis.orElse(-3, 7)).toBe(7)
      expect(Millis.orElse("nonsense" as never, 7)).toBe(7)
      expect(Millis.orElse(0, 7, { min: 1 })).toBe(7)
    })

    it("answers the converted input otherwise", () => {
      expect(Millis.orElse(0, 7)).toBe(0)
      expect(Millis.orElse("250 millis", 7)).toBe(250)
      expect(Millis.orElse("100 micros", 7, { min: 1 })).toBe(1)
    })
  })
})
