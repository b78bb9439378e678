import { describe, expect, it } from "@effect/vitest"
import { TransportError } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"

const T = TransportError

const cases: ReadonlyArray<readonly [TransportError.TransportErrorReason, boolean, string]> = [
  [new T.DecodeError({ detail: "bad body" }), false, "cannot decode: bad body"],
  [new T.DecodeError({ detail: "missing", header: "Herald-Type" }), false, "cannot decode header Herald-Type: missing"],
  [new T.EncodeError({ detail: "no JSON form" }), false, "cannot encode: no JSON form"],
  [
    new T.InvalidEnvelope({ field: "identity.messageId", detail: "empty" }),
    false,
    "invalid envelope: identity.messageId: empty"
  ],
  [new T.ConnectionError({ detail: "lost" }), true, "connection: lost"],
  [new T.AuthorizationError({ detail: "denied" }), false, "not authorized: denied"],
  [new T.PermissionDenied({ operation: "publish", subject: "a.b" }), false, "permission denied: publish to a.b"],
  [new T.Timeout({ operation: "publish", millis: 500 }), true, "publish timed out after 500 ms"],
  [new T.NoResponders({ subject: "a.b" }), true, "no responders on a.b"],
  [new T.RemoteError({ subject: "a.b", detail: "boom" }), false, "responder on a.b failed: boom"],
  [new T.InvalidSubject({ subject: "a..b", detail: "empty token" }), false, "invalid subject \"a..b\": empty token"],
  [new T.StreamNotFound({ stream: "S" }), false, "stream S not found"],
  [new T.ConsumerNotFound({ stream: "S", consumer: "c" }), false, "consumer c not found on stream S"],
  [new T.NoStreamForSubject({ subject: "x.y" }), false, "no stream captures subject x.y"],
  [
    new T.WrongLastSequence({ stream: "S", expected: 3, actual: 4, scope: "stream" }),
    false,
    "stream S: expected last stream sequence 3, it is 4"
  ],
  [
    new T.WrongLastSequence({ stream: "S", expected: 0, scope: "subject" }),
    false,
    "stream S: expected last subject sequence 0"
  ],
  [
    new T.WrongStream({ subject: "a.b", expected: "S", actual: "T" }),
    false,
    "subject a.b was expected in stream S, it is captured by T"
  ],
  [new T.WrongStream({ subject: "a.b", expected: "S" }), false, "subject a.b was expected in stream S"],
  [new T.MessageTooLarge({ size: 2048, max: 1024 }), false, "message of 2048 bytes exceeds the maximum of 1024 bytes"],
  [new T.LimitExceeded({ stream: "S", limit: "maxMessages" }), true, "stream S is full (maxMessages)"],
  [new T.InvalidConfig({ detail: "bad" }), false, "invalid configuration: bad"],
  [
    new T.Unsupported({ feature: "counters", requires: "2.12", server: "2.10.1" }),
    false,
    "counters requires server 2.12, the server is 2.10.1"
  ],
  [new T.TopologyConflict({ detail: "overlap" }), false, "topology conflict: overlap"],
  [new T.CircuitOpen({ name: "db" }), true, "circuit db is open"],
  [new T.HandlerFailed({ detail: "flaky", retryable: true }), true, "handler failed: flaky"],
  [new T.HandlerFailed({ detail: "bad input", retryable: false }), false, "handler failed: bad input"],
  [new T.Closed({ detail: "bus closed" }), false, "closed: bus closed"],
  [new T.Unknown({ detail: "something" }), false, "something"]
]

describe("TransportError", () => {
  it("covers every reason of the union", () => {
    const tags = new Set(cases.map(([reason]) => reason._tag))
    expect(tags.size).toBe(T.TransportErrorReason.members.length)
  })

  for (const [reason, retryable, message] of cases) {
    it(`${reason._tag}: retryable=${retryable}, "${message}"`, () => {
      expect(reason.isRetryable).toBe(retryable)
      expect(reason.message).toBe(message)
      const error = T.make(reason)
      expect(error._tag).toBe("TransportError")
      expect(error.reason).toBe(reason)
      expect(error.isRetryable).toBe(retryable)
      expect(error.message).toBe(message)
      expect(error.cause).toBe(reason)
      expect(T.isTransportError(error)).toBe(true)
      expect(T.isTransportErrorReason(reason)).toBe(true)
      expect(T.isRetryable(error)).toBe(retryable)
      expect(T.isRetryable(reason)).toBe(retryable)
    })
  }

  it("guards reject other values", () => {
    expect(T.isTransportError(new Error("x"))).toBe(false)
    expect(T.isTransportError(new T.Closed({ detail: "x" }))).toBe(false)
    expect(T.isTransportErrorReason(T.make(new T.Closed({ detail: "x" })))).toBe(false)
    expect(T.isTransportErrorReason({ _tag: "Closed" })).toBe(false)
  })

  it("isRetryable: a value answers for itself, anything else is retryable", () => {
    expect(T.isRetryable({ isRetryable: false })).toBe(false)
    expect(T.isRetryable({ isRetryable: true })).toBe(true)
    expect(T.isRetryable({ isRetryable: "no" })).toBe(true)
    expect(T.isRetryable(new Error("x"))).toBe(true)
    expect(T.isRetryable("x")).toBe(true)
    expect(T.isRetryable(undefined)).toBe(true)
  })

  it("describe: tag and message, error message, string, anything", () => {
    expect(T.describe(T.make(new T.CircuitOpen({ name: "db" })))).toBe("TransportError: circuit db is open")
    expect(T.describe(new T.Closed({ detail: "x" }))).toBe("Closed: closed: x")
    expect(T.describe({ _tag: "Empty", message: "" })).toBe("Empty")
    expect(T.describe(new Error("boom"))).toBe("boom")
    expect(T.describe(new TypeError(""))).toBe("TypeError")
    expect(T.describe("plain")).toBe("plain")
    expect(T.describe(42)).toBe("42")
  })

  it.effect("catchReason handles one reason and keeps the others", () =>
    Effect.gen(function*() {
      const fail = (reason: TransportError.TransportErrorReason): Effect.Effect<string, TransportError.TransportError> =>
        Effect.fail(T.make(reason))
      const handled = yield* fail(new T.NoResponders({ subject: "a" })).pipe(
        Effect.catchReason("TransportError", "NoResponders", (reason) => Effect.succeed(`nobody on ${reason.subject}`))
      )
      expect(handled).toBe("nobody on a")
      const other = yield* fail(new T.Closed({ detail: "x" })).pipe(
        Effect.catchReason("TransportError", "NoResponders", () => Effect.succeed("handled")),
        Effect.flip
      )
      expect(other.reason._tag).toBe("Closed")
    }))

  it.effect("retry while isRetryable stops at the first non-retryable failure", () =>
    Effect.gen(function*() {
      let calls = 0
      const reasons: ReadonlyArray<TransportError.TransportErrorReason> = [
        new T.ConnectionError({ detail: "1" }),
        new T.Timeout({ operation: "op", millis: 1 }),
        new T.DecodeError({ detail: "3" }),
        new T.ConnectionError({ detail: "never reached" })
      ]
      const error = yield* Effect.suspend(() => Effect.fail(T.make(reasons[calls++]!))).pipe(
        Effect.retry({ while: (e) => e.isRetryable, schedule: Schedule.recurs(10) }),
        Effect.flip
      )
      expect(calls).toBe(3)
      expect(error.reason._tag).toBe("DecodeError")
    }))
})
