import { afterAll, describe, expect, it } from "@effect/vitest"
import { IdentityError, IdGenerator, Ids, MessageIdentity } from "@herald/identity"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import { anyInput, fuzz, hostileRecord, hostileString, notString, prototypeSnapshot, runs } from "../../../fuzz.shared.ts"

const before = prototypeSnapshot()
afterAll(() => {
  expect(prototypeSnapshot()).toStrictEqual(before)
})

/** A failure is an `IdentityError` with a known reason and a short message. */
const typedError = (error: unknown): void => {
  expect(IdentityError.isIdentityError(error)).toBe(true)
  const e = error as IdentityError.IdentityError
  expect(IdentityError.isIdentityErrorReason(e.reason)).toBe(true)
  expect(typeof e.message).toBe("string")
  expect(e.message.length).toBeLessThan(1_000)
  expect(e.isRetryable).toBe(false)
}

const identityOrError = (result: Result.Result<MessageIdentity.MessageIdentity, IdentityError.IdentityError>) => {
  if (Result.isFailure(result)) typedError(result.failure)
  else {
    expect(Ids.isValidId(result.success.messageId)).toBe(true)
    expect(Ids.isValidId(result.success.correlationId)).toBe(true)
    expect(Ids.isValidId(result.success.causationId)).toBe(true)
  }
}

const names = MessageIdentity.HeaderNames

/** Identity headers mixing valid ids, hostile strings and values of other types. */
const headers = hostileRecord(
  fc.record({
    [names.messageId]: fc.oneof(fc.constant("m-2"), hostileString, notString),
    [names.correlationId]: fc.oneof(fc.constant("m-1"), hostileString, notString),
    [names.causationId]: fc.oneof(fc.constant("m-1"), hostileString, notString)
  }, { requiredKeys: [] })
)

const lookupOf = (record: Record<string, unknown>) => (name: string) =>
  Object.hasOwn(record, name) ? record[name] as string : undefined

const countedRuns = (n: number) => expect(n).toBeGreaterThanOrEqual(runs)

describe("fuzz: identity decoders return a value or an IdentityError", () => {
  it("fromHeaders and decodeHeaders", () => {
    countedRuns(fuzz(headers, (h) => MessageIdentity.fromHeaders(lookupOf(h)), identityOrError))
    countedRuns(fuzz(headers, (h) => Effect.runSyncExit(MessageIdentity.decodeHeaders(lookupOf(h))), (exit) => {
      if (Exit.isFailure(exit)) {
        const reason = exit.cause.reasons[0]
        expect(reason?._tag).toBe("Fail")
        if (reason?._tag === "Fail") typedError(reason.error)
      }
    }))
    // a lookup that is not a function
    countedRuns(fuzz(notString, (u) => MessageIdentity.fromHeaders(u as never), identityOrError))
  })

  it("make", () => {
    const fields = fc.oneof(
      notString,
      fc.record({ messageId: anyInput, correlationId: anyInput, causationId: anyInput }, { requiredKeys: [] }),
      headers
    )
    countedRuns(fuzz(fields, (f) => MessageIdentity.make(f as never), identityOrError))
  })

  it("idProblem, isValidId, the id schemas and messageIdUnsafe", () => {
    countedRuns(fuzz(anyInput, (u) => [Ids.idProblem(u as string), Ids.isValidId(u)] as const, ([problem, valid]) => {
      expect(problem === undefined).toBe(valid)
      if (problem !== undefined) expect(problem.length).toBeLessThan(200)
    }))
    const decode = Schema.decodeUnknownResult(Ids.MessageId)
    countedRuns(fuzz(anyInput, (u) => decode(u), (r, u) => expect(Result.isSuccess(r)).toBe(Ids.isValidId(u))))
    countedRuns(fuzz(anyInput, (u) => Result.try({ try: () => Ids.messageIdUnsafe(u as string), catch: (e) => e }), (r) => {
      if (Result.isFailure(r)) {
        expect(r.failure).toBeInstanceOf(Error)
        expect((r.failure as Error).message.length).toBeLessThan(1_000)
      }
    }))
  })

  it("isUuidV7 and unixMillis", () => {
    countedRuns(fuzz(anyInput, (u) => [IdGenerator.isUuidV7(u), IdGenerator.unixMillis(u as string)] as const, ([is, millis]) => {
      expect(Option.isSome(millis)).toBe(is)
    }))
  })
})
