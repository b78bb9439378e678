import { describe, expect, it } from "@effect/vitest"
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { DeadLetter, Envelope, TransportError, Wire } from "@herald/transport"
import * as Result from "effect/Result"

const identity = MessageIdentity.root(IdGenerator.testId(1))
const envelope = Envelope.make({
  identity,
  type: "OrderPlaced",
  kind: "event",
  occurredAt: Date.UTC(2024, 4, 17, 10, 30, 0, 123),
  body: new TextEncoder().encode("{}"),
  headers: { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" }
})

const raw = (): Wire.RawMessage => {
  const encoded = Wire.encode(envelope)
  if (Result.isFailure(encoded)) throw encoded.failure
  return encoded.success
}

const decodeError = (result: Result.Result<unknown, TransportError.TransportError>): TransportError.DecodeError => {
  if (Result.isSuccess(result)) throw new Error("expected a failure")
  expect(result.failure.reason._tag).toBe("DecodeError")
  expect(result.failure.isRetryable).toBe(false)
  return result.failure.reason as TransportError.DecodeError
}

const withHeaders = (headers: Record<string, unknown>): Wire.RawMessage =>
  ({ headers, body: raw().body }) as unknown as Wire.RawMessage

describe("Wire.decodeRaw: wrong-typed input is a DecodeError, never a throw", () => {
  it("refuses what is not a raw message", () => {
    for (const value of [undefined, null, 42, "raw", [], () => 1]) {
      expect(decodeError(Wire.decodeRaw(value as never)).message).toMatch(/^cannot decode: not a raw message/)
    }
    expect(decodeError(Wire.decodeRaw({ headers: undefined, body: new Uint8Array() } as never)).detail).toBe(
      "the headers are undefined, not a record"
    )
    expect(decodeError(Wire.decodeRaw({ headers: raw().headers, body: "{}" } as never)).detail).toBe(
      "the body is a string, not bytes"
    )
  })

  it("refuses header values that are not strings, naming the header", () => {
    for (const value of [42, null, {}, ["x"], true]) {
      const error = decodeError(Wire.decodeRaw(withHeaders({ ...raw().headers, "Herald-Type": value })))
      expect(error.message).toContain("Herald-Type")
      const extra = decodeError(Wire.decodeRaw(withHeaders({ ...raw().headers, "X-Extra": value })))
      expect(extra.message).toContain("X-Extra")
    }
  })

  it("Wire.decode: a lookup, names or body of the wrong type", () => {
    expect(decodeError(Wire.decode(undefined as never, [], new Uint8Array())).detail).toBe("the header lookup is undefined")
    expect(decodeError(Wire.decode(() => undefined, 5 as never, new Uint8Array())).detail).toBe(
      "the header names are a number, not a list"
    )
    expect(decodeError(Wire.decode(() => undefined, [], null as never)).detail).toBe("the body is null, not bytes")
  })
})

describe("Wire.decodeRaw applies the header rules of encode", () => {
  it("a header block with a status line is a DecodeError", () => {
    const error = decodeError(Wire.decodeRaw({ ...raw(), status: "400 Bad Request" }))
    expect(error.message).toBe(`cannot decode: the header block has a status line ("400 Bad Request")`)
    expect(decodeError(Wire.decodeRaw({ headers: {}, body: new Uint8Array(), status: "503" })).detail).toContain(
      "status line"
    )
  })

  it("an empty or invalid header name is a DecodeError", () => {
    for (const name of ["", "Bad Name", "X:Y", "é", "a\u0000"]) {
      const error = decodeError(Wire.decodeRaw(withHeaders({ ...raw().headers, [name]: "v" })))
      expect(error.detail).toBe(`header name ${JSON.stringify(name)} is not a token`)
      // the same rule as encode
      expect(Result.isFailure(Wire.validateHeader(name, "v"))).toBe(true)
    }
  })

  it("a header value with CR or LF is a DecodeError", () => {
    for (const value of ["a\r\nInjected: yes", "a\nb", "a\rb"]) {
      const error = decodeError(Wire.decodeRaw(withHeaders({ ...raw().headers, "X-Bad": value })))
      expect(error.detail).toBe(`header "X-Bad": value contains CR or LF`)
      const reserved = decodeError(Wire.decodeRaw(withHeaders({ ...raw().headers, "Herald-Type": value })))
      expect(reserved.detail).toBe(`header "Herald-Type": value contains CR or LF`)
    }
  })

  it("__proto__ and constructor headers are carried as own headers", () => {
    const headers: Record<string, string> = { ...raw().headers, constructor: "c" }
    Object.defineProperty(headers, "__proto__", { value: "p", enumerable: true, writable: true, configurable: true })
    const decoded = Wire.decodeRaw({ headers, body: raw().body })
    if (Result.isFailure(decoded)) throw decoded.failure
    expect(Object.hasOwn(decoded.success.headers, "__proto__")).toBe(true)
    expect(decoded.success.headers["__proto__"]).toBe("p")
    expect(decoded.success.headers["constructor"]).toBe("c")
    expect(Object.getPrototypeOf(decoded.success.headers)).toBe(Object.prototype)
    // and they survive encoding again
    const again = Wire.encode(decoded.success)
    if (Result.isFailure(again)) throw again.failure
    expect(Object.hasOwn(again.success.headers, "__proto__")).toBe(true)
    expect(Wire.header({ headers: {}, body: new Uint8Array() }, "constructor")).toBeUndefined()
  })
})

describe("Nats-Msg-Id must be the message id", () => {
  it("a different Nats-Msg-Id is a DecodeError naming it", () => {
    const error = decodeError(Wire.decodeRaw(withHeaders({ ...raw().headers, "Nats-Msg-Id": "other" })))
    expect(error.header).toBe("Nats-Msg-Id")
    expect(error.message).toBe(
      `cannot decode header Nats-Msg-Id: "other" is not the message id "${identity.messageId}"`
    )
    // compared without case of the header name, as every header is read
    const lower = { ...raw().headers }
    delete (lower as Record<string, string>)["Nats-Msg-Id"]
    expect(decodeError(Wire.decodeRaw(withHeaders({ ...lower, "nats-msg-id": "other" }))).header).toBe("Nats-Msg-Id")
  })

  it("a missing Nats-Msg-Id is fine (core NATS messages have none)", () => {
    const headers: Record<string, string> = { ...raw().headers }
    delete headers["Nats-Msg-Id"]
    expect(Result.isSuccess(Wire.decodeRaw({ headers, body: raw().body }))).toBe(true)
  })

  it("a dead letter, whose Nats-Msg-Id names where it failed, decodes", () => {
    const letter = DeadLetter.make(raw(), {
      reason: "boom",
      stream: "ORDERS",
      consumer: "billing",
      sequence: 42,
      subject: "orders.placed",
      deliveryCount: 5,
      failedAt: Date.UTC(2024, 0, 1)
    })
    expect(Wire.header(letter, "Nats-Msg-Id")).toBe("dlq:ORDERS:billing:42")
    const decoded = Wire.decodeRaw(letter)
    if (Result.isFailure(decoded)) throw decoded.failure
    expect(decoded.success.identity.messageId).toBe(identity.messageId)
    // but only that form
    expect(decodeError(Wire.decodeRaw(withHeaders({ ...raw().headers, "Nats-Msg-Id": "dlq:ORDERS" }))).header).toBe(
      "Nats-Msg-Id"
    )
  })
})

describe("quoted input in messages is capped", () => {
  it("at 64 characters, with the length", () => {
    const huge = "x".repeat(5_000_000)
    const kind = decodeError(Wire.decodeRaw(withHeaders({ ...raw().headers, "Herald-Kind": huge })))
    expect(kind.message).toBe(
      `cannot decode header Herald-Kind: "${"x".repeat(64)}"…(5000000 chars) is not one of event, command, query, reply`
    )
    const name = decodeError(Wire.decodeRaw(withHeaders({ ...raw().headers, [`${huge} `]: "v" })))
    expect(name.message.length).toBeLessThan(200)
    const id = decodeError(Wire.decodeRaw(withHeaders({ ...raw().headers, "Herald-Message-Id": huge })))
    expect(id.message.length).toBeLessThan(300)
    const msgId = decodeError(Wire.decodeRaw(withHeaders({ ...raw().headers, "Nats-Msg-Id": huge })))
    expect(msgId.message.length).toBeLessThan(300)
    const time = decodeError(Wire.decodeRaw(withHeaders({ ...raw().headers, "Herald-Occurred-At": huge })))
    expect(time.message.length).toBeLessThan(300)
  })
})

describe("other messages that quote input are capped", () => {
  it("InvalidSubject", () => {
    const huge = "x ".repeat(1_000_000)
    const error = TransportError.make(new TransportError.InvalidSubject({ subject: huge, detail: "whitespace" }))
    expect(error.message).toBe(`invalid subject ${JSON.stringify(huge.slice(0, 64))}…(2000000 chars): whitespace`)
  })
})
