import { describe, expect, it } from "@effect/vitest"
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { Envelope, TransportError, Wire } from "@herald/transport"
import * as Result from "effect/Result"

const encoder = new TextEncoder()

const identity = MessageIdentity.derive(MessageIdentity.root(IdGenerator.testId(1)), IdGenerator.testId(2))

const envelope = Envelope.make({
  identity,
  type: "OrderPlaced",
  kind: "event",
  occurredAt: Date.UTC(2024, 4, 17, 10, 30, 0, 123),
  body: encoder.encode(JSON.stringify({ orderId: "o-1" })),
  headers: {
    traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "X-Tenant": "acme"
  }
})

const success = <A>(result: Result.Result<A, TransportError.TransportError>): A => {
  if (Result.isFailure(result)) throw new Error(`expected a success, got ${result.failure.message}`)
  return result.success
}

const failure = <A>(result: Result.Result<A, TransportError.TransportError>): TransportError.TransportError => {
  if (Result.isSuccess(result)) throw new Error("expected a failure, got a success")
  return result.failure
}

const validHeaders = (): Record<string, string> => ({ ...success(Wire.encode(envelope)).headers })

const decodeHeaders = (headers: Record<string, string>) =>
  Wire.decodeRaw({ headers, body: new Uint8Array([1, 2, 3]) })

const expectDecodeError = (headers: Record<string, string>, header: string) => {
  const error = failure(decodeHeaders(headers))
  expect(error.reason._tag).toBe("DecodeError")
  if (error.reason._tag !== "DecodeError") return error
  expect(error.reason.header).toBe(header)
  expect(error.isRetryable).toBe(false)
  expect(error.message).toContain(header)
  return error
}

describe("Wire", () => {
  describe("encode", () => {
    it("writes every Herald header, the extra headers and the body", () => {
      const raw = success(Wire.encode(envelope))
      expect(raw.headers).toEqual({
        "Nats-Msg-Id": "00000000-0000-7000-8000-000000000002",
        "Herald-Message-Id": "00000000-0000-7000-8000-000000000002",
        "Herald-Correlation-Id": "00000000-0000-7000-8000-000000000001",
        "Herald-Causation-Id": "00000000-0000-7000-8000-000000000001",
        "Herald-Type": "OrderPlaced",
        "Herald-Kind": "event",
        "Herald-Occurred-At": "2024-05-17T10:30:00.123Z",
        "Content-Type": "application/json",
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "X-Tenant": "acme"
      })
      expect(raw.body).toBe(envelope.body)
    })

    it("uses the message id as Nats-Msg-Id", () => {
      const raw = success(Wire.encode(envelope))
      expect(raw.headers[Wire.HeaderNames.natsMsgId]).toBe(identity.messageId)
      expect(raw.headers[Wire.HeaderNames.natsMsgId]).toBe(raw.headers[Wire.HeaderNames.messageId])
    })

    it("round-trips through decodeRaw", () => {
      const decoded = success(Wire.decodeRaw(success(Wire.encode(envelope))))
      expect(decoded.identity.messageId).toBe(identity.messageId)
      expect(decoded.identity.correlationId).toBe(identity.correlationId)
      expect(decoded.identity.causationId).toBe(identity.causationId)
      expect(decoded.type).toBe(envelope.type)
      expect(decoded.kind).toBe(envelope.kind)
      expect(decoded.occurredAt).toBe(envelope.occurredAt)
      expect(decoded.contentType).toBe(envelope.contentType)
      expect(decoded.headers).toEqual(envelope.headers)
      expect(decoded.body).toEqual(envelope.body)
    })

    it("round-trips every kind", () => {
      for (const kind of Envelope.kinds) {
        const decoded = success(Wire.decodeRaw(success(Wire.encode({ ...envelope, kind }))))
        expect(decoded.kind).toBe(kind)
      }
    })

    it("refuses a header value with CR or LF", () => {
      for (const value of ["a\r\nInjected: yes", "a\nb", "a\rb"]) {
        const error = failure(Wire.encode(Envelope.withHeaders(envelope, { "X-Bad": value })))
        expect(error.reason._tag).toBe("EncodeError")
        expect(error.message).toContain("X-Bad")
        expect(error.isRetryable).toBe(false)
      }
    })

    it("refuses a header name that is not a token", () => {
      const error = failure(Wire.encode(Envelope.withHeaders(envelope, { "Bad Name": "x" })))
      expect(error.reason._tag).toBe("EncodeError")
    })

    it("refuses a reserved header name, whatever its case", () => {
      for (const name of ["Nats-Msg-Id", "herald-type", "HERALD-MESSAGE-ID", "content-type"]) {
        const error = failure(Wire.encode(Envelope.withHeaders(envelope, { [name]: "x" })))
        expect(error.reason._tag).toBe("EncodeError")
        expect(error.message).toContain("reserved")
      }
    })

    it("refuses an empty type and a non-finite time", () => {
      expect(failure(Wire.encode({ ...envelope, type: "" })).reason._tag).toBe("EncodeError")
      expect(failure(Wire.encode({ ...envelope, type: "A\nB" })).reason._tag).toBe("EncodeError")
      expect(failure(Wire.encode({ ...envelope, occurredAt: Number.NaN })).reason._tag).toBe("EncodeError")
    })
  })

  describe("decode", () => {
    it("carries extra headers and ignores reserved ones", () => {
      const decoded = success(decodeHeaders({ ...validHeaders(), "Nats-Expected-Stream": "X", baggage: "k=v" }))
      expect(decoded.headers).toEqual({
        traceparent: envelope.headers.traceparent,
        "X-Tenant": "acme",
        "Nats-Expected-Stream": "X",
        baggage: "k=v"
      })
    })

    it("reads header names without regard to case", () => {
      const lower: Record<string, string> = {}
      for (const [k, v] of Object.entries(validHeaders())) lower[k.toLowerCase()] = v
      const decoded = success(decodeHeaders(lower))
      expect(decoded.identity.messageId).toBe(identity.messageId)
      expect(decoded.type).toBe("OrderPlaced")
    })

    it("defaults a missing Content-Type to application/json", () => {
      const headers = validHeaders()
      delete headers["Content-Type"]
      expect(success(decodeHeaders(headers)).contentType).toBe("application/json")
    })

    it("a missing Herald-Message-Id is a DecodeError naming it", () => {
      const headers = validHeaders()
      delete headers["Herald-Message-Id"]
      expectDecodeError(headers, "Herald-Message-Id")
    })

    it("an empty Herald-Message-Id counts as missing", () => {
      expectDecodeError({ ...validHeaders(), "Herald-Message-Id": "" }, "Herald-Message-Id")
    })

    it("a message id with a space is a DecodeError naming the header", () => {
      const error = expectDecodeError({ ...validHeaders(), "Herald-Message-Id": "m 1" }, "Herald-Message-Id")
      expect(error.message).toContain("whitespace")
    })

    it("a missing correlation or causation id is a DecodeError naming it", () => {
      for (const header of ["Herald-Correlation-Id", "Herald-Causation-Id"]) {
        const headers = validHeaders()
        delete headers[header]
        expectDecodeError(headers, header)
      }
    })

    it("a missing Herald-Type is a DecodeError naming it", () => {
      const headers = validHeaders()
      delete headers["Herald-Type"]
      expectDecodeError(headers, "Herald-Type")
    })

    it("a missing or unknown Herald-Kind is a DecodeError naming it", () => {
      const headers = validHeaders()
      delete headers["Herald-Kind"]
      expectDecodeError(headers, "Herald-Kind")
      const error = expectDecodeError({ ...validHeaders(), "Herald-Kind": "notification" }, "Herald-Kind")
      expect(error.message).toContain("notification")
    })

    it("a missing or malformed Herald-Occurred-At is a DecodeError naming it", () => {
      const headers = validHeaders()
      delete headers["Herald-Occurred-At"]
      expectDecodeError(headers, "Herald-Occurred-At")
      for (const bad of ["yesterday", "1715941800123", "2024-05-17", "2024-05-17 10:30:00Z", "2024-05-17T25:99:00Z"]) {
        const error = expectDecodeError({ ...validHeaders(), "Herald-Occurred-At": bad }, "Herald-Occurred-At")
        expect(error.message).toContain(bad)
      }
    })

    it("accepts an ISO time with an offset", () => {
      const decoded = success(decodeHeaders({ ...validHeaders(), "Herald-Occurred-At": "2024-05-17T12:30:00.123+02:00" }))
      expect(decoded.occurredAt).toBe(envelope.occurredAt)
    })
  })

  describe("validateHeader", () => {
    it("accepts tokens and refuses CR/LF values", () => {
      expect(Result.isSuccess(Wire.validateHeader("X-Ok", "any value: with colon"))).toBe(true)
      expect(Result.isFailure(Wire.validateHeader("X:Bad", "v"))).toBe(true)
      expect(Result.isFailure(Wire.validateHeader("", "v"))).toBe(true)
      expect(Result.isFailure(Wire.validateHeader("X-Ok", "a\nb"))).toBe(true)
    })

    it("isReservedHeader ignores case", () => {
      expect(Wire.isReservedHeader("nats-msg-id")).toBe(true)
      expect(Wire.isReservedHeader("Herald-Error")).toBe(false)
      expect(Wire.isReservedHeader("traceparent")).toBe(false)
    })
  })

  describe("payloadSize", () => {
    it("counts the header block as NATS sends it, plus the body", () => {
      const body = new Uint8Array(5)
      expect(Wire.payloadSize({ headers: {}, body })).toBe(5)
      // "NATS/1.0" + "\r\nA: b" + "\r\nCc: dd" + "\r\n\r\n" + body
      expect(Wire.payloadSize({ headers: { A: "b", Cc: "dd" }, body })).toBe(8 + 6 + 8 + 4 + 5)
      // values go out trimmed; characters count in UTF-8 bytes
      expect(Wire.payloadSize({ headers: { A: "  b  " }, body: new Uint8Array(0) })).toBe(8 + 6 + 4)
      expect(Wire.utf8Length("é€😀")).toBe(2 + 3 + 4)
      expect(Wire.payloadSize({ headers: { A: "é" }, body: new Uint8Array(0) })).toBe(8 + 7 + 4)
    })
  })

  describe("header, oneLine, errorReply", () => {
    it("finds a header by exact name, then without case", () => {
      const raw = { headers: { "Herald-Type": "a", "x-trace": "b" }, body: new Uint8Array(0) }
      expect(Wire.header(raw, "Herald-Type")).toBe("a")
      expect(Wire.header(raw, "X-TRACE")).toBe("b")
      expect(Wire.header(raw, "missing")).toBeUndefined()
    })

    it("oneLine folds CR/LF and cuts long text", () => {
      expect(Wire.oneLine("a\r\nb\nc")).toBe("a b c")
      expect(Wire.oneLine("x".repeat(10), 4)).toBe("xxxx")
    })

    it("errorReply is a herald.error reply caused by the request, with Herald-Error", () => {
      const request = Envelope.make({
        identity: MessageIdentity.root(IdGenerator.testId(1)),
        type: "Ping",
        kind: "query",
        occurredAt: 1_700_000_000_000,
        body: new Uint8Array(0)
      })
      const raw = Wire.errorReply({ request, id: IdGenerator.testId(2), occurredAt: 1_700_000_000_001, detail: "boom\nbang" })
      expect(raw.headers[Wire.HeaderNames.error]).toBe("boom bang")
      const decoded = Wire.decodeRaw(raw)
      expect(Result.isSuccess(decoded)).toBe(true)
      if (Result.isFailure(decoded)) return
      expect(decoded.success.type).toBe("herald.error")
      expect(decoded.success.kind).toBe("reply")
      expect(decoded.success.identity.causationId).toBe(request.identity.messageId)
      expect(new TextDecoder().decode(decoded.success.body)).toBe("boom bang")
    })
  })
})
