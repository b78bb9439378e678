import { MessageIdentity } from "@herald/identity"
import { Envelope, Foreign, Wire } from "@herald/transport"
import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"

const body = new TextEncoder().encode(`{"orderId":"o-1"}`)
const lookupOf = (headers: Record<string, string>) => (name: string) => {
  for (const k in headers) if (k.toLowerCase() === name.toLowerCase()) return headers[k] === "" ? undefined : headers[k]
  return undefined
}
const context = (extra?: Partial<Foreign.Context>): Foreign.Context => ({
  subject: "orders.placed",
  kind: "event",
  fallbackId: () => "fallback-1",
  now: 1_000,
  ...extra
})
const decode = (headers: Record<string, string>, options: Foreign.Options, ctx = context()) =>
  Foreign.decode(lookupOf(headers), Object.keys(headers), body, options, ctx)

describe("Foreign", () => {
  it("the X-* profile: identity, type and time from its headers; other headers carried", () => {
    const r = decode({
      "X-Event-ID": "ev-1",
      "X-Correlation-ID": "flow-1",
      "X-Causation-ID": "cmd-1",
      "X-Event-Type": "OrderPlaced",
      "X-Timestamp": "2026-01-02T03:04:05Z",
      "X-Aggregate-ID": "o-1",
      "X-Domain": "orders"
    }, { profile: Foreign.cim })
    assert.isTrue(Result.isSuccess(r))
    const e = Result.getOrThrow(r)
    assert.deepStrictEqual(
      [e.identity.messageId, e.identity.correlationId, e.identity.causationId],
      ["ev-1", "flow-1", "cmd-1"]
    )
    assert.strictEqual(e.type, "OrderPlaced")
    assert.strictEqual(e.kind, "event")
    assert.strictEqual(e.occurredAt, Date.parse("2026-01-02T03:04:05Z"))
    assert.strictEqual(e.headers["X-Aggregate-ID"], "o-1")
    assert.strictEqual(e.headers["X-Domain"], "orders")
    assert.strictEqual(e.contentType, "application/json")
    assert.deepStrictEqual(e.body, body)
  })

  it("X-Message-ID wins over X-Event-ID, which wins over Nats-Msg-Id; epoch milliseconds are a time", () => {
    const e = Result.getOrThrow(decode({
      "Nats-Msg-Id": "nats-1",
      "X-Event-ID": "ev-1",
      "X-Message-ID": "msg-1",
      "X-Timestamp": "1767323045000"
    }, { profile: Foreign.cim }))
    assert.strictEqual(e.identity.messageId, "msg-1")
    assert.strictEqual(e.occurredAt, 1767323045000)
    assert.isUndefined(e.headers["Nats-Msg-Id"])
  })

  it("Herald's profile: Nats-Msg-Id, else the fallback; a new root; the definition's type and kind; receipt time", () => {
    const withId = Result.getOrThrow(decode({ "Nats-Msg-Id": "nats-1", "X-Correlation-ID": "ignored" }, {
      as: { type: "GetStatus", kind: "query" }
    }))
    assert.isTrue(MessageIdentity.isRoot(withId.identity))
    assert.strictEqual(withId.identity.messageId, "nats-1")
    assert.strictEqual(withId.type, "GetStatus")
    assert.strictEqual(withId.kind, "query")
    assert.strictEqual(withId.occurredAt, 1_000)
    const bare = Result.getOrThrow(decode({}, {}))
    assert.strictEqual(bare.identity.messageId, "fallback-1")
    assert.strictEqual(bare.type, "orders.placed")
  })

  it("a reply joins the request's flow", () => {
    const request = MessageIdentity.root("req-1" as never)
    const e = Result.getOrThrow(decode({}, {}, context({ kind: "reply", inReplyTo: request })))
    assert.strictEqual(e.identity.correlationId, "req-1")
    assert.strictEqual(e.identity.causationId, "req-1")
    assert.strictEqual(e.identity.messageId, "fallback-1")
    assert.strictEqual(e.kind, "reply")
  })

  it("an invalid id or time in a header is a DecodeError naming the header", () => {
    const badId = decode({ "X-Correlation-ID": "has space" }, { profile: Foreign.cim })
    assert.isTrue(Result.isFailure(badId))
    const reason = Result.isFailure(badId) ? badId.failure.reason : undefined
    assert.strictEqual(reason?._tag, "DecodeError")
    assert.strictEqual(reason?._tag === "DecodeError" ? reason.header : undefined, "X-Correlation-ID")
    const badTime = decode({ "X-Timestamp": "yesterday" }, { profile: Foreign.cim })
    assert.isTrue(Result.isFailure(badTime) && badTime.failure.message.includes("X-Timestamp"))
    const long = decode({ "X-Message-ID": "x".repeat(10_000) }, { profile: Foreign.cim })
    assert.isTrue(Result.isFailure(long) && long.failure.message.length < 400)
  })

  it("a message with Herald-Message-Id is judged by Herald's rules, even when malformed", () => {
    const raw: Wire.RawMessage = { headers: { "Herald-Message-Id": "m-1" }, body }
    const r = Foreign.decodeRaw(raw, { profile: Foreign.cim }, () => context())
    assert.isTrue(Result.isFailure(r))
    assert.deepStrictEqual(r, Wire.decodeRaw(raw))
  })

  it("stamp writes the X-* headers beside Herald's, and they read back as the same identity", () => {
    const parent = MessageIdentity.root("p-1" as never)
    const envelope = Envelope.make({
      identity: MessageIdentity.derive(parent, "c-1" as never),
      type: "OrderPlaced",
      kind: "event",
      occurredAt: 1767323045000,
      body
    })
    const stamped = Foreign.stamp(envelope, Foreign.cim)
    const raw = Result.getOrThrow(Wire.encode(stamped))
    assert.strictEqual(raw.headers["X-Event-Type"], "OrderPlaced")
    assert.strictEqual(raw.headers["X-Timestamp"], "2026-01-02T03:04:05.000Z")
    assert.strictEqual(raw.headers["Herald-Message-Id"], "c-1")
    // A reader of the X-* convention that ignores Herald's headers sees the same flow.
    const xOnly: Record<string, string> = {}
    for (const k in raw.headers) if (k.startsWith("X-")) xOnly[k] = raw.headers[k]!
    const read = Result.getOrThrow(decode(xOnly, { profile: Foreign.cim }))
    assert.deepStrictEqual(read.identity, envelope.identity)
    assert.strictEqual(Foreign.stamp(envelope, Foreign.herald), envelope)
    const command = Foreign.stamp({ ...envelope, kind: "command" }, Foreign.cim)
    assert.isUndefined(command.headers["X-Event-Type"])
  })
})
