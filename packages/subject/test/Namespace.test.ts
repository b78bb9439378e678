import { describe, expect, it } from "@effect/vitest"
import { Namespace, SubjectError, SubjectPattern } from "@herald/subject"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as fc from "fast-check"

const reasonOf = <A>(result: Result.Result<A, SubjectError.SubjectError>): SubjectError.SubjectErrorReason => {
  if (Result.isSuccess(result)) throw new Error("expected a failure")
  return result.failure.reason
}

describe("Namespace", () => {
  const billing = Namespace.makeUnsafe({ env: "prod", app: "billing" })

  it("builds subjects following {env}.{app}.{kind}.{aggregate}.{action}", () => {
    const r = billing.subject("event", "invoice", "created")
    expect(Result.isSuccess(r) && r.success).toBe("prod.billing.event.invoice.created")
    expect(billing.subjectUnsafe("query", "invoice", "get")).toBe("prod.billing.query.invoice.get")
    expect(billing.event("invoice", "created")).toStrictEqual(Result.succeed("prod.billing.event.invoice.created"))
    expect(billing.command("invoice", "send")).toStrictEqual(Result.succeed("prod.billing.command.invoice.send"))
    expect(billing.query("invoice", "get")).toStrictEqual(Result.succeed("prod.billing.query.invoice.get"))
    expect(billing.reply("invoice", "get")).toStrictEqual(Result.succeed("prod.billing.reply.invoice.get"))
    expect(billing.env).toBe("prod")
    expect(billing.app).toBe("billing")
    expect(billing.prefix).toBe("prod.billing")
    expect(Namespace.convention).toBe("{env}.{app}.{kind}.{aggregate}.{action}")
    expect(Namespace.kinds).toStrictEqual(["event", "command", "query", "reply"])
  })

  it("patterns: missing parts become *; pattern returns a Result like subject", () => {
    expect(billing.pattern()).toStrictEqual(Result.succeed("prod.billing.*.*.*"))
    expect(billing.pattern({ kind: "event" })).toStrictEqual(Result.succeed("prod.billing.event.*.*"))
    expect(billing.all).toBe("prod.billing.>")
    expect(billing.patternUnsafe()).toBe("prod.billing.*.*.*")
    expect(billing.patternUnsafe({ kind: "event" })).toBe("prod.billing.event.*.*")
    expect(billing.patternUnsafe({ aggregate: "invoice" })).toBe("prod.billing.*.invoice.*")
    expect(billing.patternUnsafe({ kind: "command", action: "send" })).toBe("prod.billing.command.*.send")
    expect(billing.patternUnsafe({ kind: "event", aggregate: "invoice", action: "created" })).toBe(
      "prod.billing.event.invoice.created"
    )
    expect(billing.patternUnsafe({ aggregate: "*" })).toBe("prod.billing.*.*.*")
    const p = billing.patternUnsafe({ kind: "event" })
    expect(SubjectPattern.isSubjectPattern(p)).toBe(true)
    expect(SubjectPattern.matches(p, billing.subjectUnsafe("event", "invoice", "created"))).toBe(true)
    expect(SubjectPattern.matches(p, billing.subjectUnsafe("command", "invoice", "send"))).toBe(false)
    expect(SubjectPattern.matches(billing.all, billing.subjectUnsafe("command", "invoice", "send"))).toBe(true)
  })

  it("invalid parts are InvalidToken errors naming the part", () => {
    expect({ ...reasonOf(billing.subject("event", "in voice", "created")) }).toStrictEqual({
      ...new SubjectError.InvalidToken({
        input: "prod.billing.{kind}.{aggregate}.{action}",
        value: "in voice",
        message:
          `namespace "prod.billing.{kind}.{aggregate}.{action}": parameter "aggregate" value "in voice" contains whitespace at position 2`
      })
    })
    expect(reasonOf(billing.subject("event", "invoice", "a.b"))).toMatchObject({
      _tag: "InvalidToken",
      value: "a.b",
      message: `namespace "prod.billing.{kind}.{aggregate}.{action}": parameter "action" value "a.b" contains "." at position 1`
    })
    expect(reasonOf(billing.subject("event", "", "x"))).toMatchObject({ _tag: "InvalidToken", value: "" })
    expect(reasonOf(billing.subject("event", "*", "x"))).toMatchObject({ _tag: "InvalidToken", value: "*" })
    expect(reasonOf(billing.subject("notify" as Namespace.Kind, "a", "x"))).toMatchObject({
      _tag: "InvalidToken",
      value: "notify",
      message:
        `namespace "prod.billing.{kind}.{aggregate}.{action}": parameter "kind" value "notify" is not one of event, command, query, reply`
    })
    expect(reasonOf(billing.pattern({ aggregate: "a.b" }))).toMatchObject({ _tag: "InvalidToken", value: "a.b" })
    expect(reasonOf(billing.pattern({ action: ">" }))).toMatchObject({ _tag: "InvalidToken", value: ">" })
    expect(() => billing.patternUnsafe({ aggregate: "a b" })).toThrow(`parameter "aggregate" value "a b"`)
    expect(() => billing.subjectUnsafe("event", "a.b", "c")).toThrow(`parameter "aggregate"`)
    expect(reasonOf(billing.event("a.b", "c"))).toMatchObject({ _tag: "InvalidToken", value: "a.b" })
  })

  it("make validates env and app", () => {
    expect(Result.isSuccess(Namespace.make({ env: "dev", app: "shop" }))).toBe(true)
    expect(reasonOf(Namespace.make({ env: "", app: "shop" }))).toMatchObject({
      _tag: "InvalidToken",
      input: "{env}.{app}.{kind}.{aggregate}.{action}",
      value: "",
      message: `namespace "{env}.{app}.{kind}.{aggregate}.{action}": parameter "env" value "" is empty`
    })
    expect(reasonOf(Namespace.make({ env: "dev", app: "my.shop" }))).toMatchObject({
      _tag: "InvalidToken",
      value: "my.shop"
    })
    expect(reasonOf(Namespace.make({ env: "dev", app: "shop*" }))).toMatchObject({ _tag: "InvalidToken" })
    expect(() => Namespace.makeUnsafe({ env: "de v", app: "shop" })).toThrow(`parameter "env"`)
  })

  it("parse", () => {
    expect(billing.parse("prod.billing.event.invoice.created")).toStrictEqual(
      Option.some({ env: "prod", app: "billing", kind: "event", aggregate: "invoice", action: "created" })
    )
    expect(billing.parse("dev.billing.event.invoice.created")).toStrictEqual(Option.none())
    expect(billing.parse("prod.shop.event.invoice.created")).toStrictEqual(Option.none())
    expect(billing.parse("prod.billing.notify.invoice.created")).toStrictEqual(Option.none())
    expect(billing.parse("prod.billing.event.invoice")).toStrictEqual(Option.none())
    expect(billing.parse("prod.billing.event.invoice.created.x")).toStrictEqual(Option.none())
    expect(billing.parse("prod.billing.event.in voice.created")).toStrictEqual(Option.none())
    expect(Namespace.parse("dev.shop.reply.cart.get")).toStrictEqual(
      Option.some({ env: "dev", app: "shop", kind: "reply", aggregate: "cart", action: "get" })
    )
    expect(Namespace.parse("dev.shop.cart.get")).toStrictEqual(Option.none())
    expect(Namespace.isKind("command")).toBe(true)
    expect(Namespace.isKind("commands")).toBe(false)
  })

  it("format then parse round-trips (property)", () => {
    const token = fc.string({ unit: fc.constantFrom("a", "b", "Z", "0", "-", "_", "é"), minLength: 1, maxLength: 5 })
    fc.assert(
      fc.property(token, token, fc.constantFrom(...Namespace.kinds), token, token, (env, app, kind, aggregate, action) => {
        const ns = Namespace.makeUnsafe({ env, app })
        const subject = ns.subjectUnsafe(kind, aggregate, action)
        const parts = { env, app, kind, aggregate, action }
        expect(ns.parse(subject)).toStrictEqual(Option.some(parts))
        expect(Namespace.parse(subject)).toStrictEqual(Option.some(parts))
        expect(SubjectPattern.matches(ns.all, subject)).toBe(true)
        expect(SubjectPattern.matches(ns.patternUnsafe({ kind }), subject)).toBe(true)
        expect(SubjectPattern.matches(ns.patternUnsafe({ aggregate, action }), subject)).toBe(true)
      }),
      { numRuns: 300 }
    )
  })
})
