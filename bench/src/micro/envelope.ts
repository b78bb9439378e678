/**
 * Per-message CPU of building an envelope, and of reading one back, layer by
 * layer, without a server:
 *
 *   node --conditions=@herald/source src/micro/envelope.ts
 *
 * Build: `OrderPlaced.root(payload)` as a whole, then its parts (the id from
 * `IdGenerator`, the Schema encode, the JSON codec, the clock); against raw
 * nats.js's `rawOut` (UUID, eight `MsgHdrs.set`, `JSON.stringify`).
 * Read: `OrderPlaced.decode(envelope)` (JSON + Schema decode) against
 * `JSON.parse`.
 */
import { IdGenerator } from "@herald/identity"
import { Codec } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { OrderPlaced, payloadOf, rawOut } from "../fixtures.ts"
import { measure } from "./timing.ts"

const N = 200_000
const generator = Effect.runSync(IdGenerator.makeUuidV7)
const run = <A>(effect: Effect.Effect<A, unknown, IdGenerator.IdGenerator>): A =>
  Effect.runSync(Effect.provideService(effect, IdGenerator.IdGenerator, generator))
const payload = payloadOf(1)
const encodeJson = Schema.encodeUnknownEffect(Schema.toCodecJson(OrderPlaced.schema))
const encodeSync = Schema.encodeUnknownSync(Schema.toCodecJson(OrderPlaced.schema))
const envelope = run(OrderPlaced.root(payload))

console.log("-- build (per message)")
measure("raw nats.js: rawOut (UUID, 8 x MsgHdrs.set, JSON.stringify)", N, (i) => rawOut("event", OrderPlaced.type, payloadOf(i)))
measure("Effect.runSync(OrderPlaced.root(payload))", N, (i) => run(OrderPlaced.root(payloadOf(i))))
measure("Effect.runSync(Effect.forEach 100 x OrderPlaced.root) / 100", N / 100, (i) =>
  run(Effect.forEach(Array.from({ length: 100 }, (_, j) => j), (j) => OrderPlaced.root(payloadOf(i + j)))))
measure("Effect.runSync(Effect.void)", N, () => Effect.runSync(Effect.void))
measure("Effect.runSync(IdGenerator.next)", N, () => run(IdGenerator.next))
measure("Effect.runSync(Schema encode effect)", N, (i) => Effect.runSync(encodeJson(payloadOf(i))))
measure("Schema.encodeUnknownSync", N, (i) => encodeSync(payloadOf(i)))
measure("Codec.json.encode", N, (i) => Codec.json.encode(payloadOf(i)))
measure("crypto.randomUUID", N, () => crypto.randomUUID())
measure("new Date().toISOString()", N, () => new Date().toISOString())

console.log("-- read (per message)")
measure("JSON.parse(TextDecoder.decode(body))", N, () => JSON.parse(new TextDecoder().decode(envelope.body)))
measure("Effect.runSync(OrderPlaced.decode(envelope))", N, () => Effect.runSync(OrderPlaced.decode(envelope)))
