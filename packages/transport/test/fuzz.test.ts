import { afterAll, describe, expect, it } from "@effect/vitest"
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { Codec, DeadLetter, Envelope, TransportError, Wire } from "@herald/transport"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import {
  anyInput,
  fuzz,
  hostileRecord,
  hostileString,
  nested,
  notString,
  oneMegabyte,
  prototypeSnapshot,
  runs
} from "../../../fuzz.shared.ts"

const before = prototypeSnapshot()
afterAll(() => {
  expect(prototypeSnapshot()).toStrictEqual(before)
  expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined()
})

const valid = (() => {
  const encoded = Wire.encode(Envelope.make({
    identity: MessageIdentity.root(IdGenerator.testId(1)),
    type: "OrderPlaced",
    kind: "event",
    occurredAt: Date.UTC(2024, 4, 17),
    body: new TextEncoder().encode("{}")
  }))
  if (Result.isFailure(encoded)) throw encoded.failure
  return encoded.success
})()

/** A failure is a `TransportError` with a `DecodeError` reason and a short message. */
const decodeError = (error: unknown): void => {
  expect(TransportError.isTransportError(error)).toBe(true)
  const e = error as TransportError.TransportError
  expect(e.reason._tag).toBe("DecodeError")
  expect(e.isRetryable).toBe(false)
  expect(e.message.length).toBeLessThan(1_000)
}

/** A decoded envelope encodes again: decoding let through only what encoding accepts. */
const envelopeOrError = (result: Result.Result<Envelope.Envelope, TransportError.TransportError>): void => {
  if (Result.isFailure(result)) decodeError(result.failure)
  else expect(Result.isSuccess(Wire.encode(result.success))).toBe(true)
}

/** Herald's headers, each kept, broken, or replaced by a value of another type, plus hostile extras. */
const headers = hostileRecord(
  fc.record(
    Object.fromEntries(
      Object.entries(valid.headers).map(([name, value]) => [name, fc.oneof({ weight: 6, arbitrary: fc.constant(value) }, hostileString, notString)])
    ),
    { requiredKeys: [] }
  )
)

const body = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  fc.constant(new Uint8Array(1 << 20)),
  notString
)

const status = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  fc.constantFrom("100 Idle Heartbeat", "400 Bad Request", "404 No Messages", "408 Request Timeout", "409", "503", ""),
  hostileString,
  notString
)

const rawMessage = fc.oneof(
  { weight: 8, arbitrary: fc.record({ headers, body, status }, { requiredKeys: ["headers", "body"] }) },
  notString,
  fc.record({ headers: notString, body })
)

const countedRuns = (n: number) => expect(n).toBeGreaterThanOrEqual(runs)

describe("fuzz: wire decoders return an envelope or a DecodeError", () => {
  it("Wire.decodeRaw, with status lines, invalid names and values, 1 MB values", () => {
    countedRuns(fuzz(rawMessage, (raw) => Wire.decodeRaw(raw as Wire.RawMessage), envelopeOrError))
  })

  it("Wire.decode over a lookup and names", () => {
    const input = fc.tuple(
      headers,
      fc.oneof({ weight: 6, arbitrary: fc.constant(undefined) }, notString),
      body,
      status
    )
    countedRuns(fuzz(input, ([record, names, bytes, line]) =>
      Wire.decode(
        (name) => (Object.hasOwn(record, name) ? record[name] : undefined) as string | undefined,
        (names ?? Object.keys(record)) as Iterable<string>,
        bytes as Uint8Array,
        line as string | undefined
      ), envelopeOrError))
  })

  it("Wire.validateHeader and Wire.header", () => {
    countedRuns(fuzz(fc.tuple(anyInput, anyInput), ([name, value]) => Wire.validateHeader(name as string, value as string), (r) => {
      if (Result.isFailure(r)) {
        expect(r.failure.reason._tag).toBe("EncodeError")
        expect(r.failure.message.length).toBeLessThan(1_000)
      }
    }))
    countedRuns(fuzz(fc.tuple(hostileRecord(), hostileString), ([record, name]) =>
      Wire.header({ headers: record as Record<string, string>, body: new Uint8Array() }, name), (value, [record]) => {
        if (value !== undefined) expect(Object.values(record).includes(value)).toBe(true)
      }))
  })

  it("DeadLetter.parse", () => {
    const letterHeaders = hostileRecord(
      fc.record(
        Object.fromEntries(Object.values(DeadLetter.HeaderNames).map((name) => [name, fc.oneof(fc.constant("1"), hostileString)])),
        { requiredKeys: [] }
      )
    ).map((record) => {
      // stored headers are strings
      for (const key of Object.keys(record)) if (typeof record[key] !== "string") record[key] = String(typeof record[key])
      return record as Record<string, string>
    })
    countedRuns(fuzz(letterHeaders, (h) => DeadLetter.parse({ headers: h, body: new Uint8Array() }), (info) => {
      if (info !== undefined) expect(Number.isFinite(info.sequence)).toBe(true)
    }))
  })

  it("Codec.json.decode: deep nesting, __proto__ keys, invalid UTF-8, values that are not bytes", () => {
    const encoder = new TextEncoder()
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.constantFrom(
        `{"__proto__":{"polluted":true}}`,
        `{"constructor":{"prototype":{"polluted":true}}}`,
        `[${"[".repeat(100_000)}${"]".repeat(100_000)}]`,
        `${"{\"a\":".repeat(50_000)}1${"}".repeat(50_000)}`,
        JSON.stringify(oneMegabyte("é"))
      ).map((text) => encoder.encode(text)),
      fc.json({ depthSize: "large" }).map((text) => encoder.encode(text)),
      fc.constant(encoder.encode(JSON.stringify(nested(1_000, false)))),
      notString
    )
    countedRuns(fuzz(bytes, (b) => Codec.json.decode(b as Uint8Array), (r) => {
      if (Result.isFailure(r)) expect(typeof r.failure).toBe("string")
    }))
  })
})
