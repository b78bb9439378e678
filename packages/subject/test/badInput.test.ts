import { describe, expect, it } from "@effect/vitest"
import { Namespace, OverlapGuard, Subject, SubjectError, SubjectPattern, SubjectTemplate, SubjectTrie } from "@herald/subject"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"

const reasonOf = <A>(result: Result.Result<A, SubjectError.SubjectError>): SubjectError.SubjectErrorReason => {
  if (Result.isSuccess(result)) throw new Error("expected a failure")
  return result.failure.reason
}

// Values of the wrong type, as JavaScript callers and `as any` casts pass them.
const notStrings: ReadonlyArray<unknown> = [undefined, null, 42, true, {}, [], ["a"], Symbol("s"), () => "a", 10n]

describe("wrong-typed input is a typed error, never a throw", () => {
  it("Subject and SubjectPattern constructors fail with WrongType", () => {
    for (const value of notStrings) {
      const input = value as string
      expect(reasonOf(Subject.make(input))._tag).toBe("WrongType")
      expect(reasonOf(SubjectPattern.make(input))._tag).toBe("WrongType")
      expect(Subject.isSubject(value)).toBe(false)
      expect(SubjectPattern.isSubjectPattern(value)).toBe(false)
      const error = Effect.runSync(Effect.flip(Subject.decode(input)))
      expect(error.reason._tag).toBe("WrongType")
      expect(Effect.runSync(Effect.flip(SubjectPattern.decode(input))).reason._tag).toBe("WrongType")
      expect(() => Subject.makeUnsafe(input)).toThrow(SubjectError.SubjectError)
    }
    expect({ ...reasonOf(Subject.make(undefined as unknown as string)) }).toStrictEqual({
      ...new SubjectError.WrongType({ expected: "a string", actual: "undefined" })
    })
    expect(reasonOf(Subject.make(7 as unknown as string)).message).toBe("subject: expected a string, got a number")
  })

  it("join refuses parts that are not strings, even ones whose toString throws", () => {
    const hostile = { toString: () => { throw new Error("boom") } }
    expect(reasonOf(Subject.join("a", hostile as unknown as string))._tag).toBe("WrongType")
    expect(reasonOf(Subject.join("a", undefined as unknown as string))._tag).toBe("WrongType")
    expect(() => Subject.joinUnsafe("a", null as unknown as string)).toThrow(SubjectError.SubjectError)
  })

  it("matching, parsing and the trie answer false / none for a value that is not a string", () => {
    const p = SubjectPattern.makeUnsafe("a.>")
    const trie = SubjectTrie.make<number>()
    trie.add(p, 1)
    const billing = Namespace.makeUnsafe({ env: "prod", app: "billing" })
    const template = SubjectTemplate.makeUnsafe("a.{x}")
    for (const value of notStrings) {
      const s = value as string
      expect(SubjectPattern.matches(p, s)).toBe(false)
      expect(trie.match(s)).toStrictEqual([])
      expect(trie.has(s)).toBe(false)
      expect(Namespace.parse(s)).toStrictEqual(Option.none())
      expect(billing.parse(s)).toStrictEqual(Option.none())
      expect(template.parse(s)).toStrictEqual(Option.none())
    }
  })

  it("templates: text and parameters of the wrong type", () => {
    expect(reasonOf(SubjectTemplate.make(undefined as unknown as string))._tag).toBe("WrongType")
    const template = SubjectTemplate.makeUnsafe("orders.{id}")
    for (const value of [undefined, null, 5, "id"]) {
      expect(reasonOf(template.format(value as unknown as { id: string }))).toMatchObject({
        _tag: "WrongType",
        expected: "an object of parameters"
      })
    }
    expect(reasonOf(template.format({ id: 5 } as unknown as { id: string }))).toMatchObject({
      _tag: "InvalidToken",
      value: "a number",
      message: `template "orders.{id}": parameter "id" value "a number" is not a string`
    })
    // an inherited property is not a parameter
    const inherited = Object.create({ id: "x" }) as { id: string }
    expect(reasonOf(template.format(inherited))).toMatchObject({ _tag: "InvalidToken" })
  })

  it("a placeholder named __proto__ is parsed into an own property", () => {
    const template = SubjectTemplate.makeUnsafe("a.{__proto__}")
    const parsed = template.parse("a.b")
    expect(Option.isSome(parsed)).toBe(true)
    const params = Option.getOrThrow(parsed) as Record<string, string>
    expect(Object.hasOwn(params, "__proto__")).toBe(true)
    expect(Object.getPrototypeOf(params)).toBe(Object.prototype)
    expect(template.formatUnsafe(params as never)).toBe("a.b")
  })

  it("namespaces: options, parts and pattern parts of the wrong type", () => {
    expect(reasonOf(Namespace.make(undefined as never))).toMatchObject({ _tag: "WrongType", actual: "undefined" })
    expect(reasonOf(Namespace.make({ env: 1, app: "x" } as never))).toMatchObject({
      _tag: "InvalidToken",
      value: "a number"
    })
    const billing = Namespace.makeUnsafe({ env: "prod", app: "billing" })
    expect(reasonOf(billing.subject("event", undefined as never, "x"))).toMatchObject({ _tag: "InvalidToken" })
    expect(reasonOf(billing.event({} as never, "x"))).toMatchObject({ _tag: "InvalidToken", value: "an object" })
    expect(reasonOf(billing.pattern(null as never))).toMatchObject({ _tag: "WrongType" })
    expect(reasonOf(billing.pattern({ kind: 3 } as never))).toMatchObject({ _tag: "InvalidToken" })
  })

  it("OverlapGuard: streams of the wrong shape", () => {
    expect(reasonOf(OverlapGuard.checkResult(undefined as never))._tag).toBe("WrongType")
    expect(reasonOf(OverlapGuard.checkResult([{ name: "A" }] as never))._tag).toBe("WrongType")
    expect(reasonOf(OverlapGuard.checkResult([{ name: "A", subjects: [5] }] as never))._tag).toBe("WrongType")
    expect(OverlapGuard.find(undefined as never)).toStrictEqual([])
    expect(OverlapGuard.find([null, { name: "A", subjects: ["a.>", 5, "a.b"] }] as never)).toHaveLength(1)
  })
})

describe("namespaces never build a subject longer than 4096 characters", () => {
  it("is TooLong", () => {
    expect(reasonOf(Namespace.make({ env: "e".repeat(4090), app: "a" }))._tag).toBe("TooLong")
    const billing = Namespace.makeUnsafe({ env: "prod", app: "billing" })
    const long = "x".repeat(4096)
    expect(reasonOf(billing.subject("event", long, "y"))).toMatchObject({ _tag: "TooLong", max: 4096 })
    expect(reasonOf(billing.pattern({ aggregate: long }))._tag).toBe("TooLong")
    const fits = "x".repeat(4096 - "prod.billing.event..y".length)
    expect(billing.subject("event", fits, "y")).toStrictEqual(Result.succeed(`prod.billing.event.${fits}.y`))
  })
})

describe("C0 control characters", () => {
  it("are refused in subjects and patterns with their position", () => {
    for (let c = 0; c < 32; c++) {
      if (c >= 9 && c <= 13) continue // whitespace
      const input = `orders.a${String.fromCharCode(c)}b`
      expect({ ...reasonOf(Subject.make(input)) }).toStrictEqual({
        ...new SubjectError.ControlCharacter({ input, position: 8 })
      })
      expect(reasonOf(SubjectPattern.make(input))._tag).toBe("ControlCharacter")
      expect(Subject.isSubject(input)).toBe(false)
      expect(SubjectPattern.matches(SubjectPattern.makeUnsafe("orders.>"), input)).toBe(false)
    }
    expect(reasonOf(Subject.make("a\u0000")).message).toBe(`subject "a\\u0000": control character U+0000 at position 1`)
    // tab, LF, VT, FF and CR stay whitespace
    expect(reasonOf(Subject.make("a\tb"))._tag).toBe("Whitespace")
  })

  it("are refused in template text, template values and namespace parts", () => {
    expect(reasonOf(SubjectTemplate.make("a.\u0001.{x}"))._tag).toBe("ControlCharacter")
    const template = SubjectTemplate.makeUnsafe("a.{x}")
    expect(reasonOf(template.format({ x: "b\u0000" }))).toMatchObject({ _tag: "InvalidToken" })
    expect(reasonOf(template.format({ x: "b\u0000" })).message).toContain("control character U+0000 at position 1")
    expect(template.parse("a.b\u0002")).toStrictEqual(Option.none())
    expect(reasonOf(Namespace.make({ env: "pr\u001fod", app: "x" }))).toMatchObject({ _tag: "InvalidToken" })
    const trie = SubjectTrie.make<number>()
    trie.add(SubjectPattern.makeUnsafe(">"), 1)
    expect(trie.match("a\u0000")).toStrictEqual([])
  })
})

describe("quoted input in messages is capped", () => {
  it("at 64 characters, with the length", () => {
    const long = "a b".repeat(2_000_000)
    const message = reasonOf(Subject.make(long)).message
    expect(message).toBe(`subject ${JSON.stringify(long.slice(0, 64))}…(${long.length} chars): length ${long.length} exceeds the maximum of 4096 characters`)
    const spaced = `${"a".repeat(100)} b`
    expect(reasonOf(Subject.make(spaced)).message).toBe(
      `subject ${JSON.stringify("a".repeat(64))}…(102 chars): whitespace at position 100`
    )
    const template = SubjectTemplate.makeUnsafe("a.{x}")
    const value = `${"v".repeat(1_000_000)}.`
    const tokenMessage = reasonOf(template.format({ x: value })).message
    expect(tokenMessage.length).toBeLessThan(300)
    expect(tokenMessage).toContain(`…(${value.length} chars)`)
    const badName = `{${"n".repeat(100)}-}`
    expect(reasonOf(SubjectTemplate.make(`a.${badName}`)).message.length).toBeLessThan(400)
    const billing = Namespace.makeUnsafe({ env: "prod", app: "billing" })
    expect(reasonOf(billing.subject("event", "x".repeat(10_000) + " ", "y")).message.length).toBeLessThan(300)
  })
})
