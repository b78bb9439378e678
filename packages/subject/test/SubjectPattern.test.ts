import { describe, expect, it } from "@effect/vitest"
import { Subject, SubjectPattern } from "@herald/subject"
import { pipe } from "effect/Function"
import * as fc from "fast-check"
import {
  alphabet,
  allPatterns,
  patternArb,
  refContains,
  refMatches,
  refOverlaps,
  subjectArb,
  universe
} from "./reference.ts"

const P = SubjectPattern.makeUnsafe
const { contains, matches, overlaps } = SubjectPattern

describe("SubjectPattern.matches", () => {
  const cases: ReadonlyArray<readonly [string, string, boolean]> = [
    ["a.b", "a.b", true],
    ["a.b", "a.c", false],
    ["a.b", "a", false],
    ["a.b", "a.b.c", false],
    ["a", "ab", false],
    ["ab", "a", false],
    ["a.*", "a.b", true],
    ["a.*", "a", false],
    ["a.*", "a.b.c", false],
    ["*", "a", true],
    ["*", "a.b", false],
    ["*.*", "a.b", true],
    ["*.b", "a.b", true],
    ["*.b", "a.c", false],
    ["a.>", "a.b", true],
    ["a.>", "a.b.c.d", true],
    ["a.>", "a", false], // > needs at least one token
    ["a.>", "b.c", false],
    [">", "a", true],
    [">", "a.b.c", true],
    ["*.>", "a", false],
    ["*.>", "a.b", true],
    ["a.*.>", "a.b", false],
    ["a.*.>", "a.b.c", true],
    ["orders.*.created", "orders.42.created", true],
    ["orders.*.created", "orders.42.updated", false],
    ["orders.*.created", "orders.42.x.created", false]
  ]
  it.each(cases)("%s vs %s -> %s", (pattern, subject, expected) => {
    expect(matches(P(pattern), subject)).toBe(expected)
    expect(pipe(P(pattern), matches(subject))).toBe(expected)
  })

  it("invalid subject strings never match", () => {
    expect(matches(P(">"), "")).toBe(false)
    expect(matches(P(">"), "a..b")).toBe(false)
    expect(matches(P(">"), "a.")).toBe(false)
    expect(matches(P(">"), ".a")).toBe(false)
    expect(matches(P(">"), "a b")).toBe(false)
    expect(matches(P(">"), "a.*")).toBe(false)
    expect(matches(P("*"), "*")).toBe(false)
    expect(matches(P("*"), ">")).toBe(false)
    expect(matches(P("a.*"), "a.b c")).toBe(false)
    expect(matches(P("a.*"), "a.")).toBe(false)
    expect(matches(P("a.b"), "a.b ")).toBe(false)
    expect(matches(P("a.*.c"), "a..c")).toBe(false)
    expect(matches(P(">"), "a".repeat(4097))).toBe(false)
    expect(matches(P(">"), "a".repeat(4096))).toBe(true)
  })

  it("accepts a branded Subject", () => {
    expect(matches(P("a.>"), Subject.makeUnsafe("a.b"))).toBe(true)
  })
})

describe("SubjectPattern.overlaps", () => {
  const cases: ReadonlyArray<readonly [string, string, boolean]> = [
    ["a.b", "a.b", true],
    ["a.b", "a.c", false],
    ["a.*", "a.b", true],
    ["a.*", "*.b", true],
    ["a.*", "b.*", false],
    ["a.>", "a", false], // > needs a token after a
    ["a.>", "a.b.c", true],
    ["a.>", "*.*", true],
    ["a.>", "*", false],
    [">", "a", true],
    [">", "a.b.c", true],
    ["*", "a.b", false],
    ["*.*", "*.*.*", false],
    ["*.>", "*", false],
    ["*.>", ">", true],
    ["a.b.>", "a.*.c", true],
    ["a.b.>", "a.c.>", false],
    ["orders.>", "*.created", true],
    ["orders.*", "orders.*.created", false]
  ]
  it.each(cases)("%s ~ %s -> %s", (a, b, expected) => {
    expect(overlaps(P(a), P(b))).toBe(expected)
    expect(overlaps(P(b), P(a))).toBe(expected)
    expect(pipe(P(a), overlaps(P(b)))).toBe(expected)
  })
})

describe("SubjectPattern.contains", () => {
  const cases: ReadonlyArray<readonly [string, string, boolean]> = [
    ["a.b", "a.b", true],
    ["a.*", "a.b", true],
    ["a.b", "a.*", false],
    ["a.>", "a.*", true],
    ["a.>", "a.*.*", true],
    ["a.>", "a.>", true],
    ["a.>", "a.b.>", true],
    ["a.b.>", "a.>", false],
    ["a.*", "a.>", false], // a.> also matches a.b.c
    ["a.>", "a", false],
    [">", "a", true],
    [">", "*.>", true],
    ["*.>", ">", false], // > matches single tokens, *.> does not
    ["*", ">", false],
    [">", "*", true],
    ["*.*", "a.b", true],
    ["*.b", "a.*", false],
    ["orders.>", "orders.*.created", true],
    ["*.created", "orders.>", false]
  ]
  it.each(cases)("%s ⊇ %s -> %s", (a, b, expected) => {
    expect(contains(P(a), P(b))).toBe(expected)
    expect(pipe(P(a), contains(P(b)))).toBe(expected)
  })
})

describe("the reference itself", () => {
  it("enumerates the expected universe", () => {
    expect(alphabet).toStrictEqual(["a", "b", "c", "z"])
    expect(universe.length).toBe(4 + 16 + 64 + 256 + 1024)
    expect(allPatterns.length).toBe(5 + 20 + 80 + 320)
  })

  it("decides known cases", () => {
    expect(refMatches(["a", ">"], ["a"])).toBe(false)
    expect(refMatches(["a", ">"], ["a", "b", "c"])).toBe(true)
    expect(refMatches(["*"], ["z"])).toBe(true)
    expect(refOverlaps(["a", ">"], ["a"])).toBe(false)
    expect(refOverlaps(["a", "*"], ["*", "b"])).toBe(true)
    expect(refContains(["a", "*"], ["a", ">"])).toBe(false)
    expect(refContains([">"], ["*", ">"])).toBe(true)
    expect(refContains(["*", ">"], [">"])).toBe(false)
    expect(refContains(["a", "*"], ["a", "b"])).toBe(true)
    expect(refContains(["a", "b"], ["a", "*"])).toBe(false)
  })
})

describe("algebra vs brute-force reference (property)", () => {
  it("matches agrees with the reference on every subject of the universe", () => {
    fc.assert(
      fc.property(patternArb, (p) => {
        const pattern = P(p.join("."))
        for (const s of universe) {
          if (matches(pattern, s.join(".")) !== refMatches(p, s)) return false
        }
        return true
      }),
      { numRuns: 300 }
    )
  })

  it("matches agrees with the reference on random subjects", () => {
    fc.assert(
      fc.property(patternArb, subjectArb, (p, s) => matches(P(p.join(".")), s.join(".")) === refMatches(p, s)),
      { numRuns: 3000 }
    )
  })

  it("a match implies a valid subject, for arbitrary strings", () => {
    const str = fc.string({ unit: fc.constantFrom("a", "b", ".", "*", ">", " "), maxLength: 8 })
    fc.assert(
      fc.property(patternArb, str, (p, s) => {
        const m = matches(P(p.join(".")), s)
        if (!Subject.isSubject(s)) return m === false
        return m === refMatches(p, s.split("."))
      }),
      { numRuns: 3000 }
    )
  })

  it("overlaps agrees with the reference (witness search)", () => {
    fc.assert(
      fc.property(patternArb, patternArb, (a, b) => {
        const expected = refOverlaps(a, b)
        return overlaps(P(a.join(".")), P(b.join("."))) === expected &&
          overlaps(P(b.join(".")), P(a.join("."))) === expected
      }),
      { numRuns: 2000 }
    )
  })

  it("contains agrees with the reference (counterexample search)", () => {
    fc.assert(
      fc.property(patternArb, patternArb, (a, b) => contains(P(a.join(".")), P(b.join("."))) === refContains(a, b)),
      { numRuns: 2000 }
    )
  })

  it("contains is reflexive and implies overlaps", () => {
    fc.assert(
      fc.property(patternArb, patternArb, (a, b) => {
        const pa = P(a.join("."))
        const pb = P(b.join("."))
        if (!contains(pa, pa)) return false
        return !contains(pa, pb) || overlaps(pa, pb)
      }),
      { numRuns: 1000 }
    )
  })

  it("exhaustively agrees with the reference on every pair of generator patterns", () => {
    // bitset of the universe subjects each pattern matches (by the reference)
    const words = Math.ceil(universe.length / 32)
    const sets = allPatterns.map((p) => {
      const bits = new Uint32Array(words)
      universe.forEach((s, i) => {
        if (refMatches(p, s)) bits[i >>> 5]! |= 1 << (i & 31)
      })
      return bits
    })
    const strings = allPatterns.map((p) => P(p.join(".")))
    let mismatches = 0
    let overlapping = 0
    let containing = 0
    for (let i = 0; i < allPatterns.length; i++) {
      const x = sets[i]!
      for (let j = 0; j < allPatterns.length; j++) {
        const y = sets[j]!
        let common = false
        let yMinusX = false
        for (let w = 0; w < words; w++) {
          if ((x[w]! & y[w]!) !== 0) common = true
          if ((y[w]! & ~x[w]!) !== 0) yMinusX = true
        }
        if (common) overlapping++
        if (!yMinusX) containing++
        if (overlaps(strings[i]!, strings[j]!) !== common) mismatches++
        if (contains(strings[i]!, strings[j]!) !== !yMinusX) mismatches++
      }
    }
    expect(mismatches).toBe(0)
    // both outcomes are well represented
    expect(overlapping).toBeGreaterThan(10_000)
    expect(containing).toBeGreaterThan(1_000)
    expect(allPatterns.length ** 2 - overlapping).toBeGreaterThan(10_000)
  })
})
