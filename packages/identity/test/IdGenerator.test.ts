import { describe, expect, it } from "@effect/vitest"
import { IdGenerator, Ids } from "@herald/identity"
import { Effect, Option } from "effect"
import { TestClock } from "effect/testing"

const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

const expectStrictlyIncreasing = (ids: ReadonlyArray<string>) => {
  for (let i = 1; i < ids.length; i++) {
    if (!(ids[i - 1]! < ids[i]!)) {
      throw new Error(`ids[${i - 1}] = ${ids[i - 1]} is not below ids[${i}] = ${ids[i]}`)
    }
  }
}

describe("IdGenerator", () => {
  describe("uuidv7", () => {
    it("matches the RFC 9562 example", () => {
      // RFC 9562 appendix A.6: 017F22E2-79B0-7CC3-98C4-DC0C0C07398F
      const random = Uint8Array.from([0x0c, 0xc3, 0x18, 0xc4, 0xdc, 0x0c, 0x0c, 0x07, 0x39, 0x8f])
      expect(IdGenerator.uuidv7(0x017f22e279b0, random)).toBe("017f22e2-79b0-7cc3-98c4-dc0c0c07398f")
    })

    it("forces version and variant bits", () => {
      expect(IdGenerator.uuidv7(0, new Uint8Array(10).fill(0xff))).toBe("00000000-0000-7fff-bfff-ffffffffffff")
      expect(IdGenerator.uuidv7(0, new Uint8Array(10))).toBe("00000000-0000-7000-8000-000000000000")
      expect(IdGenerator.uuidv7(2 ** 48 - 1, new Uint8Array(10))).toBe("ffffffff-ffff-7000-8000-000000000000")
    })

    it("truncates the timestamp to 48 bits", () => {
      expect(IdGenerator.uuidv7(2 ** 48 + 5, new Uint8Array(10))).toBe(IdGenerator.uuidv7(5, new Uint8Array(10)))
      expect(IdGenerator.uuidv7(1.9, new Uint8Array(10))).toBe("00000000-0001-7000-8000-000000000000")
    })

    it("unixMillis reads the timestamp back", () => {
      const id = IdGenerator.uuidv7(1_700_000_000_123, new Uint8Array(10))
      expect(IdGenerator.unixMillis(id)).toEqual(Option.some(1_700_000_000_123))
      expect(IdGenerator.unixMillis("not-a-uuid")).toEqual(Option.none())
      expect(IdGenerator.isUuidV7(id)).toBe(true)
      expect(IdGenerator.isUuidV7("017f22e2-79b0-4cc3-98c4-dc0c0c07398f")).toBe(false)
    })
  })

  describe("layer", () => {
    it.effect("makes valid UUIDv7 ids carrying the clock time", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(1_700_000_000_000)
        const id = yield* IdGenerator.next
        expect(id).toMatch(UUIDV7)
        expect(id[14]).toBe("7")
        expect(["8", "9", "a", "b"]).toContain(id[19])
        expect(Ids.isValidId(id)).toBe(true)
        expect(IdGenerator.unixMillis(id)).toEqual(Option.some(1_700_000_000_000))
        expect(id.slice(0, 13)).toBe("018bcfe5-6800")
      }).pipe(Effect.provide(IdGenerator.layer)))

    it.effect("10,000 ids in one TestClock millisecond strictly increase", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(1_000)
        const ids: Array<string> = []
        for (let i = 0; i < 10_000; i++) {
          ids.push(yield* IdGenerator.next)
        }
        for (const id of ids) expect(id).toMatch(UUIDV7)
        expectStrictlyIncreasing(ids)
        expect(new Set(ids).size).toBe(10_000)
        // The counter holds at most 4096 values per millisecond, so the
        // generator has to borrow later milliseconds, but only a few.
        const first = Option.getOrThrow(IdGenerator.unixMillis(ids[0]!))
        const last = Option.getOrThrow(IdGenerator.unixMillis(ids[9_999]!))
        expect(first).toBe(1_000)
        expect(last).toBeGreaterThan(1_001)
        expect(last).toBeLessThanOrEqual(1_000 + Math.ceil(10_000 / 2048))
      }).pipe(Effect.provide(IdGenerator.layer)))

    it.effect("ids follow TestClock.adjust", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(5_000)
        const a = yield* IdGenerator.next
        yield* TestClock.adjust("1 second")
        const b = yield* IdGenerator.next
        yield* TestClock.adjust("1 millis")
        const c = yield* IdGenerator.next
        expect(IdGenerator.unixMillis(a)).toEqual(Option.some(5_000))
        expect(IdGenerator.unixMillis(b)).toEqual(Option.some(6_000))
        expect(IdGenerator.unixMillis(c)).toEqual(Option.some(6_001))
        expectStrictlyIncreasing([a, b, c])
      }).pipe(Effect.provide(IdGenerator.layer)))

    it.effect("every id is the uuidv7 of its timestamp and bits (the generator's formatting is uuidv7's)", () =>
      Effect.gen(function*() {
        const times = [0, 1, 255, 65_536, 0xffff_ffff, 0x1_0000_0000, 1_700_000_000_123, 2 ** 48 - 1] // increasing
        for (const t of times) {
          yield* TestClock.setTime(t)
          for (let i = 0; i < 50; i++) {
            const id = yield* IdGenerator.next
            const hex = id.replaceAll("-", "")
            const bytes = Array.from({ length: 16 }, (_, j) => Number.parseInt(hex.slice(2 * j, 2 * j + 2), 16))
            const ms = Option.getOrThrow(IdGenerator.unixMillis(id))
            expect(ms).toBe(t)
            const random = new Uint8Array([bytes[6]! & 0x0f, bytes[7]!, bytes[8]! & 0x3f, ...bytes.slice(9)])
            expect(IdGenerator.uuidv7(ms, random)).toBe(id)
          }
        }
      }).pipe(Effect.provide(IdGenerator.layer)))

    it.effect("stays increasing when the clock goes back", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(10_000)
        const a = yield* IdGenerator.next
        yield* TestClock.setTime(9_000)
        const b = yield* IdGenerator.next
        const c = yield* IdGenerator.next
        expectStrictlyIncreasing([a, b, c])
        expect(IdGenerator.unixMillis(b)).toEqual(Option.some(10_000))
      }).pipe(Effect.provide(IdGenerator.layer)))

    it.effect("two ids in the same millisecond differ only after the timestamp", () =>
      Effect.gen(function*() {
        const a = yield* IdGenerator.next
        const b = yield* IdGenerator.next
        expect(a.slice(0, 13)).toBe(b.slice(0, 13))
        const counter = (id: string) => Number.parseInt(id.slice(15, 18), 16)
        expect(counter(b)).toBe(counter(a) + 1)
      }).pipe(Effect.provide(IdGenerator.layer)))
  })

  describe("layerTest", () => {
    it.effect("yields 1, 2, 3, ...", () =>
      Effect.gen(function*() {
        const ids = [yield* IdGenerator.next, yield* IdGenerator.next, yield* IdGenerator.next]
        expect(ids).toEqual([
          "00000000-0000-7000-8000-000000000001",
          "00000000-0000-7000-8000-000000000002",
          "00000000-0000-7000-8000-000000000003"
        ])
        for (const id of ids) expect(id).toMatch(UUIDV7)
      }).pipe(Effect.provide(IdGenerator.layerTest)))

    it.effect("each build starts again at 1", () =>
      Effect.gen(function*() {
        const take2 = Effect.all([IdGenerator.next, IdGenerator.next])
        const first = yield* Effect.provide(take2, IdGenerator.layerTest)
        const second = yield* Effect.provide(take2, IdGenerator.layerTest)
        expect(first).toEqual(second)
        expect(first).toEqual([IdGenerator.testId(1), IdGenerator.testId(2)])
      }))

    it("testId is sortable and wide enough", () => {
      expect(IdGenerator.testId(1)).toBe("00000000-0000-7000-8000-000000000001")
      expect(IdGenerator.testId(255)).toBe("00000000-0000-7000-8000-0000000000ff")
      expect(IdGenerator.testId(2 ** 48 - 1)).toBe("00000000-0000-7000-8000-ffffffffffff")
      const ids = Array.from({ length: 5000 }, (_, i) => IdGenerator.testId(i + 1))
      expectStrictlyIncreasing(ids)
    })
  })
})
