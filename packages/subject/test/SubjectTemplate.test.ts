import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Subject, SubjectError, SubjectPattern, SubjectTemplate } from "@herald/subject"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as fc from "fast-check"

const reasonOf = <A>(result: Result.Result<A, SubjectError.SubjectError>): SubjectError.SubjectErrorReason => {
  if (Result.isSuccess(result)) throw new Error("expected a failure")
  return result.failure.reason
}

describe("SubjectTemplate", () => {
  const created = SubjectTemplate.makeUnsafe("orders.{orderId}.created")

  it("computes the parameter type from the text", () => {
    expectTypeOf<SubjectTemplate.Params<"orders.{orderId}.created">>().toEqualTypeOf<{ readonly orderId: string }>()
    expectTypeOf<SubjectTemplate.Params<"{tenant}.orders.{orderId}.{event}">>().toEqualTypeOf<
      { readonly tenant: string; readonly orderId: string; readonly event: string }
    >()
    expectTypeOf<SubjectTemplate.Params<"a.b">>().toEqualTypeOf<{}>()
    expectTypeOf<SubjectTemplate.ParamsOf<typeof created>>().toEqualTypeOf<{ readonly orderId: string }>()
    expectTypeOf(created.template).toEqualTypeOf<"orders.{orderId}.created">()
    expectTypeOf(created.format).parameter(0).toEqualTypeOf<{ readonly orderId: string }>()
  })

  it("format", () => {
    const r = created.format({ orderId: "42" })
    expect(Result.isSuccess(r) && r.success).toBe("orders.42.created")
    expect(created.formatUnsafe({ orderId: "ab-c_1" })).toBe("orders.ab-c_1.created")
    // @ts-expect-error a missing parameter is a type error
    const missing = created.format({})
    expect(reasonOf(missing)).toMatchObject({ _tag: "InvalidToken", input: "orders.{orderId}.created" })
    // extra keys are ignored
    const extra = { orderId: "7", other: "x" }
    expect(created.formatUnsafe(extra)).toBe("orders.7.created")
  })

  it("format rejects values that are not single tokens, naming the parameter", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["", `template "orders.{orderId}.created": parameter "orderId" value "" is empty`],
      ["a.b", `template "orders.{orderId}.created": parameter "orderId" value "a.b" contains "." at position 1`],
      ["a b", `template "orders.{orderId}.created": parameter "orderId" value "a b" contains whitespace at position 1`],
      ["\n", `template "orders.{orderId}.created": parameter "orderId" value "\\n" contains whitespace at position 0`],
      ["*", `template "orders.{orderId}.created": parameter "orderId" value "*" contains the wildcard "*" at position 0`],
      ["x>", `template "orders.{orderId}.created": parameter "orderId" value "x>" contains the wildcard ">" at position 1`]
    ]
    for (const [value, message] of cases) {
      const r = created.format({ orderId: value })
      const reason = reasonOf(r)
      expect({ ...reason }).toStrictEqual({
        ...new SubjectError.InvalidToken({ input: "orders.{orderId}.created", value, message })
      })
      expect(Result.isFailure(r) && r.failure.message).toBe(message)
    }
    expect(() => created.formatUnsafe({ orderId: "a.b" })).toThrow(`parameter "orderId" value "a.b"`)
  })

  it("format fails with TooLong when the result exceeds 4096 characters", () => {
    const t = SubjectTemplate.makeUnsafe("a.{x}")
    const r = t.format({ x: "b".repeat(4095) })
    expect(reasonOf(r)).toMatchObject({ _tag: "TooLong", length: 4097, max: 4096 })
    expect(Result.isSuccess(t.format({ x: "b".repeat(4094) }))).toBe(true)
  })

  it("parse", () => {
    expect(created.parse("orders.42.created")).toStrictEqual(Option.some({ orderId: "42" }))
    expect(created.parse(Subject.makeUnsafe("orders.x.created"))).toStrictEqual(Option.some({ orderId: "x" }))
    expect(created.parse("orders.42.updated")).toStrictEqual(Option.none())
    expect(created.parse("orders.42.created.x")).toStrictEqual(Option.none())
    expect(created.parse("orders.created")).toStrictEqual(Option.none())
    expect(created.parse("orders..created")).toStrictEqual(Option.none())
    expect(created.parse("orders.*.created")).toStrictEqual(Option.none())
    const multi = SubjectTemplate.makeUnsafe("{tenant}.orders.{orderId}.{event}")
    expect(multi.parse("acme.orders.1.shipped")).toStrictEqual(
      Option.some({ tenant: "acme", orderId: "1", event: "shipped" })
    )
  })

  it("pattern, placeholders and template", () => {
    expect(created.pattern).toBe("orders.*.created")
    expect(created.placeholders).toStrictEqual(["orderId"])
    expect(created.template).toBe("orders.{orderId}.created")
    const multi = SubjectTemplate.makeUnsafe("{tenant}.orders.{orderId}.{event}")
    expect(multi.pattern).toBe("*.orders.*.*")
    expect(multi.placeholders).toStrictEqual(["tenant", "orderId", "event"])
    const plain = SubjectTemplate.makeUnsafe("a.b")
    expect(plain.pattern).toBe("a.b")
    expect(plain.formatUnsafe({})).toBe("a.b")
    expect(plain.parse("a.b")).toStrictEqual(Option.some({}))
  })

  it("rejects malformed template text", () => {
    const cases: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
      ["orders.{id", { _tag: "InvalidTemplate", token: 1, position: 7, problem: `unclosed placeholder "{id"` }],
      ["a.{}.b", { _tag: "InvalidTemplate", token: 1, position: 2, problem: "empty placeholder name" }],
      [
        "a.x{id}.b",
        { _tag: "InvalidTemplate", token: 1, position: 2, problem: `placeholder must be a whole token, got "x{id}"` }
      ],
      [
        "a.{id}x",
        { _tag: "InvalidTemplate", token: 1, position: 2, problem: `placeholder must be a whole token, got "{id}x"` }
      ],
      ["a.id}", { _tag: "InvalidTemplate", token: 1, position: 2, problem: `unexpected "}" in "id}"` }],
      ["a.{1x}", { _tag: "InvalidTemplate", token: 1, position: 2 }],
      ["a.{b-c}", { _tag: "InvalidTemplate", token: 1, position: 2 }],
      ["{a}.{a}", { _tag: "InvalidTemplate", token: 1, position: 4, problem: `duplicate placeholder "a"` }],
      ["", { _tag: "Empty" }],
      ["a.{id} .b", { _tag: "Whitespace", position: 6 }],
      ["a..{id}", { _tag: "EmptyToken", token: 1, position: 2 }],
      ["a.*.{id}", { _tag: "WildcardInSubject", token: 1, position: 2 }]
    ]
    for (const [template, expected] of cases) {
      const reason = reasonOf(SubjectTemplate.make(template))
      expect(reason).toMatchObject({ input: template, ...expected })
    }
    expect(reasonOf(SubjectTemplate.make("a.x{id}.b")).message).toBe(
      `template "a.x{id}.b": token 1 at position 2: placeholder must be a whole token, got "x{id}"`
    )
    expect(() => SubjectTemplate.makeUnsafe("orders.{id")).toThrow(`unclosed placeholder`)
  })

  it("round trip: parse(format(params)) = params and the pattern matches (property)", () => {
    const literal = fc.string({ unit: fc.constantFrom("a", "b", "o", "-", "_", "1"), minLength: 1, maxLength: 3 })
    const value = fc.string({
      unit: fc.constantFrom("a", "B", "7", "-", "_", "ü", "{", "}", "$", "😀", ":"),
      minLength: 1,
      maxLength: 6
    })
    const shape = fc.array(fc.oneof(literal, fc.constant(undefined)), { minLength: 1, maxLength: 6 })
    fc.assert(
      fc.property(shape, fc.array(value, { minLength: 6, maxLength: 6 }), (parts, values) => {
        let n = 0
        const text = parts.map((p) => (p === undefined ? `{p${n++}}` : p)).join(".")
        const template = SubjectTemplate.makeUnsafe(text)
        const params: Record<string, string> = {}
        for (let i = 0; i < n; i++) params[`p${i}`] = values[i]!
        const subject = template.formatUnsafe(params)
        expect(Subject.isSubject(subject)).toBe(true)
        expect(template.parse(subject)).toStrictEqual(Option.some(params))
        expect(SubjectPattern.matches(template.pattern, subject)).toBe(true)
        expect(template.placeholders.length).toBe(n)
      }),
      { numRuns: 500 }
    )
  })

  it("a value with a forbidden character always fails naming the parameter (property)", () => {
    const bad = fc
      .tuple(
        fc.string({ unit: fc.constantFrom("a", "b"), maxLength: 3 }),
        fc.constantFrom(".", "*", ">", " ", "\t", "\r", "\n", "\u00a0"),
        fc.string({ unit: fc.constantFrom("a", "b"), maxLength: 3 })
      )
      .map(([x, c, y]) => x + c + y)
    const t = SubjectTemplate.makeUnsafe("x.{first}.{second}")
    fc.assert(
      fc.property(bad, fc.boolean(), (v, first) => {
        const r = t.format(first ? { first: v, second: "ok" } : { first: "ok", second: v })
        const reason = reasonOf(r)
        expect(reason._tag).toBe("InvalidToken")
        if (reason._tag === "InvalidToken") {
          expect(reason.value).toBe(v)
          expect(reason.message).toContain(`parameter "${first ? "first" : "second"}"`)
        }
      }),
      { numRuns: 300 }
    )
  })
})
