/**
 * The service that mints new message ids.
 *
 * {@link layer} produces UUIDv7 ids (RFC 9562): 48 bits of Unix milliseconds
 * from Effect's `Clock`, then a 12-bit counter, then 62 random bits. Ids from
 * one generator sort strictly increasing as strings, even when many are made
 * in the same millisecond, so they double as a rough publication order. Since
 * the time comes from `Clock`, `TestClock` controls it in tests.
 *
 * {@link layerTest} produces the fixed sequence
 * `00000000-0000-7000-8000-000000000001`, `...002`, ... for tests that
 * assert exact ids.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Ids from "./Ids.ts"

/**
 * Mints message ids. `next` returns a fresh id each time it runs.
 *
 * @category services
 * @since 0.1.0
 */
export class IdGenerator extends Context.Service<IdGenerator, {
  readonly next: Effect.Effect<Ids.MessageId>
}>()("@herald/identity/IdGenerator") {}

/**
 * A fresh id from the `IdGenerator` in context.
 *
 * @category accessors
 * @since 0.1.0
 */
export const next: Effect.Effect<Ids.MessageId, never, IdGenerator> = IdGenerator.use((generator) => generator.next)

const HEX: ReadonlyArray<string> = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))

const TWO_POW_32 = 0x1_0000_0000
const TWO_POW_48 = 0x1_0000_0000_0000

const toUint48 = (n: number): number => {
  const int = Number.isFinite(n) ? Math.floor(n) : 0
  return ((int % TWO_POW_48) + TWO_POW_48) % TWO_POW_48
}

const format = (bytes: ArrayLike<number>): string => {
  let out = ""
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) out += "-"
    out += HEX[bytes[i]! & 0xff]
  }
  return out
}

/**
 * Formats a UUIDv7 (RFC 9562) from a Unix timestamp in milliseconds and 10
 * random bytes. Pure: the same arguments give the same id.
 *
 * Layout: bytes 0-5 are `unixMs` big-endian; the version nibble `7` is
 * followed by the low 4 bits of `random[0]` and all of `random[1]` (`rand_a`,
 * 12 bits); the variant bits `10` are followed by the low 6 bits of
 * `random[2]` and `random[3..9]` (`rand_b`, 62 bits). `unixMs` is truncated
 * to an integer and taken modulo 2^48; missing random bytes count as 0.
 *
 * @category constructors
 * @since 0.1.0
 */
export const uuidv7 = (unixMs: number, random: Uint8Array): Ids.MessageId => {
  const ms = toUint48(unixMs)
  const high = Math.floor(ms / TWO_POW_32)
  const low = ms % TWO_POW_32
  const bytes = new Uint8Array(16)
  bytes[0] = high >>> 8
  bytes[1] = high & 0xff
  bytes[2] = low >>> 24
  bytes[3] = (low >>> 16) & 0xff
  bytes[4] = (low >>> 8) & 0xff
  bytes[5] = low & 0xff
  bytes[6] = 0x70 | ((random[0] ?? 0) & 0x0f)
  bytes[7] = random[1] ?? 0
  bytes[8] = 0x80 | ((random[2] ?? 0) & 0x3f)
  for (let i = 9; i < 16; i++) {
    bytes[i] = random[i - 6] ?? 0
  }
  return format(bytes) as Ids.MessageId
}

const UUIDV7_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/**
 * `true` when `s` is a lowercase UUIDv7 (version 7, RFC 9562 variant).
 *
 * @category predicates
 * @since 0.1.0
 */
export const isUuidV7 = (s: unknown): boolean => typeof s === "string" && UUIDV7_PATTERN.test(s)

/**
 * The Unix timestamp in milliseconds embedded in a UUIDv7, or `None` when
 * `id` is not a UUIDv7.
 *
 * @category getters
 * @since 0.1.0
 */
export const unixMillis = (id: string): Option.Option<number> =>
  isUuidV7(id) ? Option.some(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)) : Option.none()

const POOL_SIZE = 4096
const MAX_COUNTER = 0xfff

/**
 * Creates the state of a monotonic UUIDv7 generator and returns the pure-ish
 * step that turns the current time into the next id. Random bytes come from
 * `crypto.getRandomValues`, fetched in blocks.
 */
const makeMonotonic = (): (nowMs: number) => Ids.MessageId => {
  const pool = new Uint8Array(POOL_SIZE)
  let poolPos = POOL_SIZE
  const randomByte = (): number => {
    if (poolPos === POOL_SIZE) {
      globalThis.crypto.getRandomValues(pool)
      poolPos = 0
    }
    return pool[poolPos++]!
  }
  // A fresh counter starts in the lower half of its 12 bits so that at least
  // 2048 ids fit in a millisecond before it overflows.
  const seed = (): number => ((randomByte() << 8) | randomByte()) & 0x7ff
  let lastMs = -1
  let counter = 0
  // The first 14 characters ("tttttttt-tttt-") depend only on the timestamp:
  // formatted once per millisecond. The rest is written from the counter and
  // the pool without an intermediate byte array: the same id `uuidv7(lastMs,
  // [counter >>> 8, counter & 0xff, ...8 random bytes])` gives.
  let prefixMs = -1
  let prefix = ""
  return (nowMs) => {
    const ms = toUint48(nowMs)
    if (ms > lastMs) {
      lastMs = ms
      counter = seed()
    } else {
      // Same millisecond, or the clock went back: keep the last timestamp and
      // count up. On overflow borrow the next millisecond.
      counter++
      if (counter > MAX_COUNTER) {
        lastMs++
        counter = seed()
      }
    }
    if (prefixMs !== lastMs) {
      prefixMs = lastMs
      const high = Math.floor(lastMs / TWO_POW_32)
      const low = lastMs % TWO_POW_32
      prefix = HEX[high >>> 8]! + HEX[high & 0xff]! + HEX[low >>> 24]! + HEX[(low >>> 16) & 0xff]! + "-" +
        HEX[(low >>> 8) & 0xff]! + HEX[low & 0xff]! + "-"
    }
    return (prefix + HEX[0x70 | ((counter >>> 8) & 0x0f)]! + HEX[counter & 0xff]! + "-" +
      HEX[0x80 | (randomByte() & 0x3f)]! + HEX[randomByte()]! + "-" +
      HEX[randomByte()]! + HEX[randomByte()]! + HEX[randomByte()]! + HEX[randomByte()]! + HEX[randomByte()]! +
      HEX[randomByte()]!) as Ids.MessageId
  }
}

/**
 * Builds a UUIDv7 generator with its own monotonic state. Each run of this
 * effect gives an independent generator.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeUuidV7: Effect.Effect<IdGenerator["Service"]> = Effect.sync(() => {
  const step = makeMonotonic()
  return IdGenerator.of({
    next: Effect.map(Clock.currentTimeMillis, step)
  })
})

/**
 * UUIDv7 ids (RFC 9562) timed by `Clock` and strictly increasing per layer
 * instance: ids from the same millisecond use an incrementing 12-bit counter
 * seeded at random; if the counter overflows, the timestamp moves one
 * millisecond ahead of the clock until the clock catches up.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<IdGenerator> = Layer.effect(IdGenerator, makeUuidV7)

/**
 * The deterministic test id number `n` (taken modulo 2^48):
 * `testId(1) === "00000000-0000-7000-8000-000000000001"`.
 * These ids are valid UUIDv7 strings and sort by `n`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const testId = (n: number): Ids.MessageId =>
  `00000000-0000-7000-8000-${toUint48(n).toString(16).padStart(12, "0")}` as Ids.MessageId

/**
 * Deterministic ids for tests: `testId(1)`, `testId(2)`, ... Each build of
 * the layer starts again at 1.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerTest: Layer.Layer<IdGenerator> = Layer.sync(IdGenerator, () => {
  let n = 0
  return IdGenerator.of({ next: Effect.sync(() => testId(++n)) })
})
