import { describe, expect, it } from "@effect/vitest"
import { Namespace, OverlapGuard, Subject, SubjectPattern, SubjectTemplate, SubjectTrie } from "@herald/subject"
import * as Effect from "effect/Effect"
import { pipe } from "effect/Function"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"

// The README's examples, kept compiling and true.
describe("README examples", () => {
  it("Subject", () => {
    const created = Subject.makeUnsafe("orders.created")
    expect(Subject.tokens(created)).toStrictEqual(["orders", "created"])
    const joined = Subject.join("prod.billing", "invoice", "created")
    expect(Result.isSuccess(joined) && joined.success).toBe("prod.billing.invoice.created")
    const Config = Schema.Struct({ subject: Subject.Subject })
    const decoded = Schema.decodeUnknownResult(Config)({ subject: "a b" })
    expect(Result.isFailure(decoded) && decoded.failure.message).toContain(
      `subject "a b": whitespace at position 1`
    )
  })

  it("SubjectPattern", () => {
    const all = SubjectPattern.makeUnsafe("orders.>")
    const created = SubjectPattern.makeUnsafe("orders.*.created")
    expect(SubjectPattern.matches(created, "orders.42.created")).toBe(true)
    expect(SubjectPattern.matches(all, "orders")).toBe(false)
    expect(SubjectPattern.matches(created, "orders.42")).toBe(false)
    expect(SubjectPattern.overlaps(all, SubjectPattern.makeUnsafe("*.created"))).toBe(true)
    expect(SubjectPattern.contains(all, created)).toBe(true)
    expect(SubjectPattern.contains(created, all)).toBe(false)
    expect(pipe(created, SubjectPattern.matches("orders.1.created"))).toBe(true)
  })

  it("SubjectTrie", () => {
    const calls: Array<string> = []
    type Handler = (subject: string) => void
    const auditOrders: Handler = (s) => calls.push(`audit ${s}`)
    const sendConfirmation: Handler = (s) => calls.push(`confirm ${s}`)
    const routes = SubjectTrie.make<Handler>()
    routes.add(SubjectPattern.makeUnsafe("orders.>"), auditOrders)
    routes.add(SubjectPattern.makeUnsafe("orders.*.created"), sendConfirmation)
    for (const handler of routes.match("orders.42.created")) handler("orders.42.created")
    expect(calls).toStrictEqual(["audit orders.42.created", "confirm orders.42.created"])
    expect(routes.has("payments.1")).toBe(false)
    expect(routes.remove(SubjectPattern.makeUnsafe("orders.>"), auditOrders)).toBe(true)
    expect(routes.size).toBe(1)
    expect(routes.patterns()).toStrictEqual(["orders.*.created"])
  })

  it("SubjectTemplate", () => {
    const OrderCreated = SubjectTemplate.makeUnsafe("orders.{orderId}.created")
    expect(OrderCreated.formatUnsafe({ orderId: "42" })).toBe("orders.42.created")
    expect(OrderCreated.parse("orders.42.created")).toStrictEqual(Option.some({ orderId: "42" }))
    expect(OrderCreated.pattern).toBe("orders.*.created")
  })

  it("Namespace", () => {
    const billing = Namespace.makeUnsafe({ env: "prod", app: "billing" })
    expect(billing.subjectUnsafe("event", "invoice", "created")).toBe("prod.billing.event.invoice.created")
    expect(billing.event("invoice", "created")).toStrictEqual(Result.succeed("prod.billing.event.invoice.created"))
    expect(billing.pattern({ aggregate: "invoice" })).toStrictEqual(Result.succeed("prod.billing.*.invoice.*"))
    expect(billing.patternUnsafe({ kind: "event" })).toBe("prod.billing.event.*.*")
  })

  it.effect("OverlapGuard and the error model", () =>
    Effect.gen(function*() {
      const streams = [
        { name: "ORDERS", subjects: ["orders.>"] },
        { name: "AUDIT", subjects: ["*.created"] }
      ]
      const error = yield* Effect.flip(OverlapGuard.check(streams))
      expect(error.message).toBe(
        `overlapping stream subjects: stream ORDERS "orders.>" overlaps stream AUDIT "*.created"`
      )
      const handled = yield* Effect.flip(
        Subject.decode("orders. created").pipe(
          Effect.catchTag("SubjectError", (error) => {
            switch (error.reason._tag) {
              case "Whitespace":
                return Effect.fail(`no spaces please (at ${error.reason.position})`)
              default:
                return Effect.fail(error.message)
            }
          })
        )
      )
      expect(handled).toBe("no spaces please (at 7)")
    }))
})
