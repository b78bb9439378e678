import { describe, expect, it } from "@effect/vitest"
import { SubjectPattern, SubjectTrie } from "@herald/subject"
import * as fc from "fast-check"
import { patternArb, subjectArb, universe } from "./reference.ts"

const P = SubjectPattern.makeUnsafe

describe("SubjectTrie", () => {
  it("dispatches a subject to every matching registration in insertion order", () => {
    const trie = SubjectTrie.make<string>()
    trie.add(P("orders.>"), "all-orders")
    trie.add(P("orders.*.created"), "created")
    trie.add(P(">"), "everything")
    trie.add(P("orders.42.created"), "exact")
    trie.add(P("orders.*"), "one-level")
    trie.add(P("*.*.created"), "any-created")
    trie.add(P("payments.>"), "payments")
    expect(trie.size).toBe(7)
    expect(trie.match("orders.42.created")).toStrictEqual([
      "all-orders",
      "created",
      "everything",
      "exact",
      "any-created"
    ])
    expect(trie.match("orders.42")).toStrictEqual(["all-orders", "everything", "one-level"])
    expect(trie.match("orders")).toStrictEqual(["everything"])
    expect(trie.match("payments.1.created")).toStrictEqual(["everything", "any-created", "payments"])
    expect(trie.has("orders")).toBe(true)
  })

  it("> needs at least one token; * exactly one", () => {
    const trie = SubjectTrie.make<number>()
    trie.add(P("a.>"), 1)
    trie.add(P("a.*"), 2)
    expect(trie.match("a")).toStrictEqual([])
    expect(trie.match("a.b")).toStrictEqual([1, 2])
    expect(trie.match("a.b.c")).toStrictEqual([1])
    expect(trie.has("a")).toBe(false)
    expect(trie.has("a.b.c")).toBe(true)
  })

  it("invalid subjects match nothing", () => {
    const trie = SubjectTrie.make<number>()
    trie.add(P(">"), 1)
    for (const s of ["", "a..b", "a.", ".a", "a b", "a.*", ">"]) {
      expect(trie.match(s)).toStrictEqual([])
      expect(trie.has(s)).toBe(false)
    }
    expect(trie.match("a")).toStrictEqual([1])
  })

  it("duplicate registrations are kept and removed one at a time", () => {
    const trie = SubjectTrie.make<string>()
    trie.add(P("a.*"), "x")
    trie.add(P("a.b"), "y")
    trie.add(P("a.*"), "x")
    expect(trie.size).toBe(3)
    expect(trie.match("a.b")).toStrictEqual(["x", "y", "x"])
    expect(trie.patterns()).toStrictEqual(["a.*", "a.b"])
    expect(trie.remove(P("a.*"), "x")).toBe(true)
    expect(trie.match("a.b")).toStrictEqual(["y", "x"])
    expect(trie.patterns()).toStrictEqual(["a.*", "a.b"])
    expect(trie.remove(P("a.*"), "x")).toBe(true)
    expect(trie.remove(P("a.*"), "x")).toBe(false)
    expect(trie.remove(P("a.b"), "other")).toBe(false)
    expect(trie.remove(P("q.r.s"), "y")).toBe(false)
    expect(trie.remove(P("a.>"), "y")).toBe(false)
    expect(trie.patterns()).toStrictEqual(["a.b"])
    expect(trie.size).toBe(1)
    expect(trie.match("a.b")).toStrictEqual(["y"])
    expect(trie.match("a.c")).toStrictEqual([])
  })

  it("the same value under two matching patterns appears once per registration", () => {
    const handler = { name: "h" }
    const trie = SubjectTrie.make<typeof handler>()
    trie.add(P("a.>"), handler)
    trie.add(P("a.b"), handler)
    expect(trie.match("a.b")).toStrictEqual([handler, handler])
    expect(trie.match("a.c")).toStrictEqual([handler])
  })

  it("removing > registrations and pruning", () => {
    const trie = SubjectTrie.make<number>()
    trie.add(P("a.b.>"), 1)
    trie.add(P("a.b.c"), 2)
    expect(trie.remove(P("a.b.>"), 1)).toBe(true)
    expect(trie.match("a.b.c")).toStrictEqual([2])
    expect(trie.match("a.b.d")).toStrictEqual([])
    expect(trie.remove(P("a.b.c"), 2)).toBe(true)
    expect(trie.size).toBe(0)
    expect(trie.patterns()).toStrictEqual([])
    trie.add(P("a.b.c"), 3)
    expect(trie.match("a.b.c")).toStrictEqual([3])
  })

  it("clear", () => {
    const trie = SubjectTrie.make<number>()
    trie.add(P("a"), 1)
    trie.clear()
    expect(trie.size).toBe(0)
    expect(trie.match("a")).toStrictEqual([])
    trie.add(P("a"), 2)
    expect(trie.match("a")).toStrictEqual([2])
  })

  it("agrees with linear matching after random adds and removes (property)", () => {
    type Op = { readonly add: boolean; readonly pattern: string; readonly value: number }
    const opArb: fc.Arbitrary<Op> = fc.record({
      add: fc.boolean(),
      pattern: patternArb.map((p) => p.join(".")),
      value: fc.integer({ min: 0, max: 3 })
    })
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), fc.array(subjectArb, { minLength: 1, maxLength: 20 }), (ops, subjects) => {
        const trie = SubjectTrie.make<number>()
        const linear: Array<{ pattern: SubjectPattern.SubjectPattern; value: number }> = []
        for (const op of ops) {
          const pattern = P(op.pattern)
          if (op.add) {
            trie.add(pattern, op.value)
            linear.push({ pattern, value: op.value })
          } else {
            const index = linear.findIndex((r) => r.pattern === pattern && r.value === op.value)
            expect(trie.remove(pattern, op.value)).toBe(index >= 0)
            if (index >= 0) linear.splice(index, 1)
          }
        }
        expect(trie.size).toBe(linear.length)
        expect([...trie.patterns()].sort()).toStrictEqual([...new Set(linear.map((r) => r.pattern))].sort())
        for (const tokens of subjects) {
          const s = tokens.join(".")
          const expected = linear.filter((r) => SubjectPattern.matches(r.pattern, s)).map((r) => r.value)
          expect(trie.match(s)).toStrictEqual(expected)
          expect(trie.has(s)).toBe(expected.length > 0)
        }
      }),
      { numRuns: 500 }
    )
  })

  it("agrees with linear matching on the whole universe for a fixed set", () => {
    const trie = SubjectTrie.make<string>()
    const patterns = ["a", "*", ">", "a.>", "a.*", "*.b", "*.*.c", "a.b.c.>", "z.*.>", "c.b.a", "*.>", "a.*.c"].map(P)
    patterns.forEach((p) => trie.add(p, p))
    for (const tokens of universe) {
      const s = tokens.join(".")
      expect(trie.match(s)).toStrictEqual(patterns.filter((p) => SubjectPattern.matches(p, s)))
    }
  })

  it("20,000 patterns: each lookup returns exactly the registrations that match", () => {
    const trie = SubjectTrie.make<number>()
    for (let i = 0; i < 20_000; i++) trie.add(P(`svc${i}.*.created`), i)
    trie.add(P("svc7.>"), -1)
    let total = 0
    for (let i = 0; i < 20_000; i++) total += trie.match(`svc${i % 100}.x.created`).length
    expect(total).toBe(20_000 + 200)
    expect(trie.match("svc7.x.created")).toStrictEqual([7, -1])
    expect(trie.match("svc19999.y.created")).toStrictEqual([19_999])
    expect(trie.match("svc20000.y.created")).toStrictEqual([])
    expect(trie.match("svc7.created")).toStrictEqual([-1])
  })
})
