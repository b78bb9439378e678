/**
 * What the suggested changes to `NatsBus.publish` / `NatsBus.subscribe`
 * would buy, measured like the bench's core publish + subscribe row (N
 * messages published, counted at a subscriber, first publish to last
 * receive) on one nats-server:
 *
 *   node --conditions=@herald/source src/micro/pubsub-whatif.ts
 *
 * - `raw`: nats.js with a reused headers object (the bench's raw side).
 * - `herald`: `Bus.publish` + `Bus.subscribe` as they are.
 * - `A`: Herald's publish without `Effect.fn`'s span and stack captures
 *   (the same body in `Effect.suspend`), subscribe as it is.
 * - `B`: A + a size check that skips the exact UTF-8 count when an upper
 *   bound fits, + the header block written straight from the
 *   `Wire.encode` record (one string, one `TextEncoder.encode`) instead of
 *   `headers()` + 8 × `append` + `encode()`.
 * - `C`: B + subscribe with a pure `Stream.filterMap` (the same decode)
 *   instead of `Stream.filterMapEffect` (an Effect per message).
 *
 * These are sketches of the fixes, written against Herald's public
 * `Wire` functions; they do what Herald does (validation, encoding,
 * decoding every message into an envelope), only cheaper.
 */
import { type Bus, type Envelope, TransportError, Wire } from "@herald/transport"
import type { Msg, MsgHdrs } from "@nats-io/transport-node"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { checkSize, decode, toHeaders, validateSubject } from "../../../packages/transport-nats/src/internal/bus/wire.ts"
import { body, envelope, natsHeadersOf } from "../fixtures.ts"
import { median, now } from "../harness.ts"
import { type Clients, withClients } from "./server.ts"

const N = Number(process.env["N"] ?? "50000")
const event = envelope("event")
const rawHeaders = natsHeadersOf(event)
const indexes = Array.from({ length: N }, (_, i) => i)
const te = new TextEncoder()

/** An upper bound of the wire size first; the exact count only when the bound does not fit. */
const fastCheckSize = (raw: Wire.RawMessage, max: number) => {
  let bound = 12 + raw.body.length
  for (const name in raw.headers) bound += 4 + 3 * (name.length + raw.headers[name]!.length)
  return bound <= max ? Result.void : checkSize(raw, max)
}

/** The header block nats.js would write (`NATS/1.0`, `\r\nName: value`..., `\r\n\r\n`), as a `MsgHdrs` that only encodes. */
const blockOf = (headers: Readonly<Record<string, string>>): MsgHdrs => {
  let s = "NATS/1.0"
  for (const name in headers) s += `\r\n${name}: ${headers[name]!.trim()}`
  const bytes = te.encode(s + "\r\n\r\n")
  return { encode: () => bytes } as unknown as MsgHdrs
}

const leanPublish = (clients: Clients, variant: "A" | "B") => {
  const client = clients.connection.client
  const max = () => client.info?.max_payload ?? clients.connection.server.maxPayload
  return (subject: string, e: Envelope.Envelope): Effect.Effect<void, TransportError.TransportError> =>
    Effect.suspend(() => {
      const valid = validateSubject(subject)
      if (Result.isFailure(valid)) return Effect.fail(valid.failure)
      const raw = Wire.encode(e)
      if (Result.isFailure(raw)) return Effect.fail(raw.failure)
      const size = variant === "A" ? checkSize(raw.success, max()) : fastCheckSize(raw.success, max())
      if (Result.isFailure(size)) return Effect.fail(size.failure)
      const headers = variant === "A" ? toHeaders(raw.success) : blockOf(raw.success.headers)
      return Effect.try({
        try: () => client.publish(subject, raw.success.body, headers === undefined ? undefined : { headers }),
        catch: (cause) => TransportError.make(new TransportError.Unknown({ detail: String(cause), cause }))
      })
    })
}

/** Subscribe as NatsBus does (sliding queue, flush, the same `decode`), in a pure `filterMap` instead of an Effect per message. */
const leanSubscribe = (clients: Clients, pattern: string) =>
  Effect.gen(function*() {
    const client = clients.connection.client
    const buffer = yield* Queue.sliding<Msg, Cause.Done>(65_536)
    yield* Effect.acquireRelease(
      Effect.sync(() => client.subscribe(pattern, { callback: (error, msg) => {
        if (error === null) Queue.offerUnsafe(buffer, msg)
      } })),
      (sub) => Effect.sync(() => sub.unsubscribe())
    )
    yield* Effect.promise(() => client.flush())
    return Stream.filterMap(Stream.fromQueue(buffer), (msg: Msg) => {
      const decoded = decode(msg)
      return Result.isSuccess(decoded)
        ? Result.succeed<Bus.Received>({ subject: msg.subject, envelope: decoded.success, replyTo: undefined })
        : Result.fail(msg)
    })
  })

type Publish = (subject: string, e: Envelope.Envelope) => Effect.Effect<void, TransportError.TransportError>
type Subscribe = (
  pattern: string
) => Effect.Effect<Stream.Stream<Bus.Received, TransportError.TransportError>, TransportError.TransportError, Scope.Scope>

const heraldLike = (publish: Publish, subscribe: Subscribe, subject: string) =>
  Effect.scoped(Effect.gen(function*() {
    const stream = yield* subscribe(subject)
    const reader = yield* Effect.forkChild(Stream.runDrain(Stream.take(stream, N)))
    const t0 = now()
    yield* Effect.forEach(indexes, () => publish(subject, event), { discard: true })
    yield* Fiber.join(reader)
    return N / ((now() - t0) / 1000)
  }))

await withClients((clients) =>
  Effect.gen(function*() {
    const { bus, nc } = clients
    const raw = (subject: string) =>
      Effect.promise(async () => {
        let count = 0
        let done!: () => void
        const received = new Promise<void>((resolve) => {
          done = resolve
        })
        const sub = nc.subscribe(subject, {
          callback: (e) => {
            if (e === null && ++count === N) done()
          }
        })
        await nc.flush()
        const t0 = now()
        for (let i = 0; i < N; i++) nc.publish(subject, body, { headers: rawHeaders })
        await received
        const rate = N / ((now() - t0) / 1000)
        sub.unsubscribe()
        return rate
      })
    const variants: ReadonlyArray<readonly [string, (subject: string) => Effect.Effect<number, unknown>]> = [
      ["raw nats.js", raw],
      ["herald (NatsBus as is)", (s) => heraldLike(bus.publish, bus.subscribe, s)],
      ["A: publish without Effect.fn", (s) => heraldLike(leanPublish(clients, "A"), bus.subscribe, s)],
      ["B: A + fast size check + direct header block", (s) => heraldLike(leanPublish(clients, "B"), bus.subscribe, s)],
      [
        "C: B + subscribe with a pure Stream.filterMap",
        (s) => heraldLike(leanPublish(clients, "B"), (p) => leanSubscribe(clients, p), s)
      ]
    ]
    const only = process.env["ONLY"]
    const selected = only === undefined ? variants : variants.filter(([name]) => name.startsWith(only))
    const rates = new Map<string, Array<number>>()
    let k = 0
    for (let round = 0; round < 4; round++) {
      for (const [name, run] of selected) {
        const rate = yield* run(`micro.whatif.${k++}`)
        if (round === 0) continue
        rates.set(name, [...(rates.get(name) ?? []), rate])
      }
    }
    const base = median(rates.get("raw nats.js") ?? [Number.NaN])
    console.log(`core publish + subscribe, ${N} messages, medians of 3 rounds`)
    for (const [name, list] of rates) {
      const m = median(list)
      console.log(`${name.padEnd(48)} ${Math.round(m).toString().padStart(7)} msgs/s  ratio ${(m / base).toFixed(3)}`)
    }
  })
)
