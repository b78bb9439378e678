/**
 * Per-message CPU of the Bus's wire work, without a server:
 *
 *   node --conditions=@herald/source src/micro/wire.ts
 *
 * Publish side: what `NatsBus.publish` does before nats.js writes the bytes
 * (subject validation, `Wire.encode`, `checkSize`, `toHeaders`, the header
 * block's `encode()`), against what raw nats.js does (only `encode()` of a
 * headers object it reuses), and against encoding the header block straight
 * from the `Wire.encode` record.
 *
 * Receive side: nats.js's `MsgHdrsImpl.decode` of the header block (what
 * `msg.headers` does on first access) plus `Wire.decode` through `header()`
 * lookups, against parsing the block once into a record and `Wire.decodeRaw`.
 */
import { MessageIdentity } from "@herald/identity"
import { Wire } from "@herald/transport"
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node"
import * as Result from "effect/Result"
import { checkSize, decode, header, toHeaders, validateSubject } from "../../../packages/transport-nats/src/internal/bus/wire.ts"
import { envelope, natsHeadersOf, rawOf } from "../fixtures.ts"
import { measure } from "./timing.ts"

const N = 200_000
/** nats.js's headers class (`MsgHdrsImpl`), reached through an instance: its `decode` is what `msg.headers` runs. */
const MsgHdrsImpl = natsHeaders().constructor as unknown as { decode: (bytes: Uint8Array) => MsgHdrs }
/** nats.js's headers class also has `encode()` (what `publish` calls), which the `MsgHdrs` interface does not declare. */
type Encodable = MsgHdrs & { encode(): Uint8Array }
const e = envelope()
const raw = rawOf(e)
const shared = natsHeadersOf(e) as Encodable
const te = new TextEncoder()

console.log("-- publish side (per message)")
measure("raw nats.js: encode() of a reused MsgHdrs", N, () => shared.encode())
measure("Subject.make (validateSubject)", N, () => validateSubject("bench.core.herald.1"))
measure("Wire.encode(envelope)", N, () => Wire.encode(e))
measure("checkSize (payloadSize: utf8 length of every header)", N, () => checkSize(raw, 1 << 20))
measure("toHeaders: headers() + 8 x MsgHdrs.append", N, () => toHeaders(raw))
const built = toHeaders(raw) as Encodable
measure("MsgHdrs.encode() of the built headers", N, () => built.encode())
measure("all of Herald's publish prep (validate, encode, size, toHeaders, encode())", N, () => {
  validateSubject("bench.core.herald.1")
  const r = Wire.encode(e)
  if (Result.isFailure(r)) throw r.failure
  checkSize(r.success, 1 << 20)
  return (toHeaders(r.success) as Encodable).encode()
})

/** The header block written straight from the record: what nats.js's `toString()` + `encode()` produce. */
const encodeBlock = (headers: Readonly<Record<string, string>>): Uint8Array => {
  let s = "NATS/1.0"
  for (const name in headers) s += `\r\n${name}: ${headers[name]}`
  return te.encode(s + "\r\n\r\n")
}
const same = Buffer.from(encodeBlock(raw.headers)).equals(Buffer.from(built.encode()))
console.log(`   (the direct block is byte-identical to nats.js's: ${same})`)
measure("alternative: Wire.encode + header block written from the record", N, () => {
  const r = Wire.encode(e)
  if (Result.isFailure(r)) throw r.failure
  return encodeBlock(r.success.headers)
})

console.log("-- receive side (per message)")
const block = built.encode()
measure("raw nats.js: nothing (headers are parsed lazily, never read)", N, () => block)
measure("MsgHdrsImpl.decode (first access to msg.headers)", N, () => MsgHdrsImpl.decode(block))
const fakeMsg = (h: MsgHdrs) => ({ headers: h, data: raw.body, subject: "s", reply: "" }) as never
measure("MsgHdrsImpl.decode + Herald decode (header() lookups + Wire.decode)", N, () =>
  decode(fakeMsg(MsgHdrsImpl.decode(block))))
const parsed = MsgHdrsImpl.decode(block)
measure("  of which Herald decode alone (lookups via MsgHdrs.get/findKeys)", N, () => decode(fakeMsg(parsed)))
measure("  of which one header() lookup", N, () => header(parsed, "Herald-Type"))

const td = new TextDecoder()
/** Parses a header block once into a record (first value of each name). */
const parseBlock = (bytes: Uint8Array): Record<string, string> => {
  const s = td.decode(bytes)
  const out: Record<string, string> = {}
  let at = s.indexOf("\r\n") + 2
  while (at < s.length) {
    const end = s.indexOf("\r\n", at)
    const line = end < 0 ? s.slice(at) : s.slice(at, end)
    if (line === "") break
    const colon = line.indexOf(":")
    if (colon > 0) {
      const name = line.slice(0, colon)
      if (!(name in out)) out[name] = line.slice(colon + 1).trim()
    }
    at = end < 0 ? s.length : end + 2
  }
  return out
}
measure("alternative: parse the block once into a record + Wire.decodeRaw", N, () =>
  Wire.decodeRaw({ headers: parseBlock(block), body: raw.body }))
const record = parseBlock(block)
measure("  of which Wire.decodeRaw alone", N, () => Wire.decodeRaw({ headers: record, body: raw.body }))
measure("  of which Wire.decode with a plain record lookup", N, () =>
  Wire.decode((n) => record[n], Object.keys(record), raw.body))

console.log("-- pieces of Wire.encode / Wire.decode (per call)")
measure("new Date(occurredAt).toISOString() (encode)", N, () => new Date(e.occurredAt).toISOString())
measure("isoTime regex + Date.parse (decode)", N, () =>
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(raw.headers["Herald-Occurred-At"]!) &&
  Date.parse(raw.headers["Herald-Occurred-At"]!))
measure("MessageIdentity.fromHeaders (3 id checks + Schema.Class instance)", N, () =>
  MessageIdentity.fromHeaders((n) => record[n]))
measure("  of which the Schema.Class instance (MessageIdentity.root)", N, () => MessageIdentity.root(e.identity.messageId))
measure("Wire.isReservedHeader x 8 (toLowerCase + Set)", N, () => {
  let r = false
  for (const name in raw.headers) r = Wire.isReservedHeader(name) || r
  return r
})
