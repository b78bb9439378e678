import { describe, expect, it } from "@effect/vitest"
import { OverlapGuard, SubjectError, SubjectPattern } from "@herald/subject"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import { patternArb, refOverlaps } from "./reference.ts"

describe("OverlapGuard", () => {
  it("finds overlaps across streams", () => {
    const streams = [
      { name: "ORDERS", subjects: ["orders.>"] },
      { name: "AUDIT", subjects: ["*.created"] },
      { name: "PAYMENTS", subjects: ["payments.*", "refunds.*.done"] }
    ]
    expect(OverlapGuard.find(streams)).toStrictEqual([
      { a: { stream: "ORDERS", pattern: "orders.>" }, b: { stream: "AUDIT", pattern: "*.created" } },
      { a: { stream: "AUDIT", pattern: "*.created" }, b: { stream: "PAYMENTS", pattern: "payments.*" } }
    ])
  })

  it("finds overlaps within one stream, including a repeated subject", () => {
    const streams = [
      { name: "EVENTS", subjects: ["a.*", "a.b", "c.>", "c.>"] },
      { name: "OTHER", subjects: ["d"] }
    ]
    expect(OverlapGuard.find(streams)).toStrictEqual([
      { a: { stream: "EVENTS", pattern: "a.*" }, b: { stream: "EVENTS", pattern: "a.b" } },
      { a: { stream: "EVENTS", pattern: "c.>" }, b: { stream: "EVENTS", pattern: "c.>" } }
    ])
  })

  it("reports nothing for disjoint subjects", () => {
    const streams = [
      { name: "ORDERS", subjects: [SubjectPattern.makeUnsafe("orders.>")] },
      { name: "ORDERS_ROOT", subjects: ["orders"] },
      { name: "PAY", subjects: ["pay.*.created", "pay.*.updated", "pay.x"] }
    ]
    expect(OverlapGuard.find(streams)).toStrictEqual([])
    expect(Result.isSuccess(OverlapGuard.checkResult(streams))).toBe(true)
    expect(OverlapGuard.find([])).toStrictEqual([])
  })

  it.effect("check fails with an Overlap reason listing every pair", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        OverlapGuard.check([
          { name: "ORDERS", subjects: ["orders.>"] },
          { name: "AUDIT", subjects: ["*.created", "audit.log.>"] },
          { name: "ALL", subjects: [">"] }
        ])
      )
      expect(error.reason._tag).toBe("Overlap")
      expect(error.reason).toBeInstanceOf(SubjectError.Overlap)
      if (error.reason._tag === "Overlap") {
        expect(error.reason.pairs).toStrictEqual([
          { a: { stream: "ORDERS", pattern: "orders.>" }, b: { stream: "AUDIT", pattern: "*.created" } },
          { a: { stream: "ORDERS", pattern: "orders.>" }, b: { stream: "ALL", pattern: ">" } },
          { a: { stream: "AUDIT", pattern: "*.created" }, b: { stream: "ALL", pattern: ">" } },
          { a: { stream: "AUDIT", pattern: "audit.log.>" }, b: { stream: "ALL", pattern: ">" } }
        ])
      }
      expect(error.message).toBe(
        `overlapping stream subjects: stream ORDERS "orders.>" overlaps stream AUDIT "*.created"; ` +
          `stream ORDERS "orders.>" overlaps stream ALL ">"; ` +
          `stream AUDIT "*.created" overlaps stream ALL ">"; ` +
          `stream AUDIT "audit.log.>" overlaps stream ALL ">"`
      )
      yield* OverlapGuard.check([{ name: "A", subjects: ["a.>"] }, { name: "B", subjects: ["b.>"] }])
    }))

  it("the single-pair message", () => {
    const r = OverlapGuard.checkResult([
      { name: "ORDERS", subjects: ["orders.>"] },
      { name: "AUDIT", subjects: ["*.created"] }
    ])
    expect(Result.isFailure(r) && r.failure.message).toBe(
      `overlapping stream subjects: stream ORDERS "orders.>" overlaps stream AUDIT "*.created"`
    )
  })

  it("an invalid pattern fails with that pattern's SubjectError; find skips it", () => {
    const streams = [
      { name: "A", subjects: ["a.>", "b c"] },
      { name: "B", subjects: ["a.x", "x.>.y"] }
    ]
    const r = OverlapGuard.checkResult(streams)
    expect(Result.isFailure(r)).toBe(true)
    if (Result.isFailure(r)) {
      expect({ ...r.failure.reason }).toStrictEqual({ ...new SubjectError.Whitespace({ input: "b c", position: 1 }) })
    }
    const error = Effect.runSync(Effect.flip(OverlapGuard.check([{ name: "B", subjects: ["x.>.y"] }])))
    expect(error.reason).toMatchObject({ _tag: "FullWildcardNotLast", token: 1, position: 2 })
    expect(OverlapGuard.find(streams)).toStrictEqual([
      { a: { stream: "A", pattern: "a.>" }, b: { stream: "B", pattern: "a.x" } }
    ])
  })

  it("finds exactly the pairs the brute-force reference finds (property)", () => {
    const streamArb = fc.array(fc.array(patternArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 })
    fc.assert(
      fc.property(streamArb, (streams) => {
        const input = streams.map((subjects, i) => ({ name: `S${i}`, subjects: subjects.map((p) => p.join(".")) }))
        const flat = streams.flatMap((subjects, i) => subjects.map((p) => ({ stream: `S${i}`, tokens: p })))
        const expected: Array<OverlapGuard.Overlap> = []
        for (let i = 0; i < flat.length; i++) {
          for (let j = i + 1; j < flat.length; j++) {
            if (refOverlaps(flat[i]!.tokens, flat[j]!.tokens)) {
              expected.push({
                a: { stream: flat[i]!.stream, pattern: flat[i]!.tokens.join(".") },
                b: { stream: flat[j]!.stream, pattern: flat[j]!.tokens.join(".") }
              })
            }
          }
        }
        expect(OverlapGuard.find(input)).toStrictEqual(expected)
        expect(Result.isSuccess(OverlapGuard.checkResult(input))).toBe(expected.length === 0)
      }),
      { numRuns: 200 }
    )
  })
})
