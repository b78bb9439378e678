/**
 * The `SnapshotStore` contract as tests: every store runs this suite.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { ReplayError, Snapshot } from "../src/index.ts"

export interface Harness<S, X = never> {
  /** Built once for the suite (a database, a server). */
  readonly shared: Layer.Layer<S, unknown>
  /** A fresh, empty store for one test. */
  readonly fresh: () => Layer.Layer<Snapshot.SnapshotStore | X, unknown, S>
  /** `SnapshotStore.kind`. */
  readonly kind: string
  /**
   * Overwrites the stored snapshot (name, sequence) with text that is not
   * JSON, as a hand edit would (absent: the store keeps no text outside the
   * process).
   */
  readonly corrupt?: ((name: string, sequence: number) => Effect.Effect<unknown, unknown, S | X>) | undefined
}

const reasonOf = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.exit(self), (exit) => {
    const error = Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
    assert.isTrue(ReplayError.isReplayError(error), `expected a ReplayError, got ${String(error)}`)
    return (error as ReplayError.ReplayError).reason
  })

const store = Effect.service(Snapshot.SnapshotStore)

export const storeSuite = <S, X = never>(name: string, harness: Harness<S, X>) => {
  layer(harness.shared, { excludeTestServices: true, timeout: "120 seconds" })(name, (it) => {
    const test = (title: string, body: () => Effect.Effect<void, unknown, Snapshot.SnapshotStore | S | X>) =>
      it.effect(title, () => Effect.provide(body(), harness.fresh()))

    test("kind", () => Effect.map(store, (s) => assert.strictEqual(s.kind, harness.kind)))

    test("save, latest, list: by sequence, highest first; saving a sequence again replaces it", () =>
      Effect.gen(function*() {
        const s = yield* store
        assert.deepStrictEqual(yield* s.latest("p"), Option.none())
        assert.deepStrictEqual(yield* s.list("p"), [])
        yield* s.save("p", { stream: "S", sequence: 10, state: { n: 10, nested: [1, "a", null, true] }, at: 1000 })
        yield* s.save("p", { stream: "S", sequence: 30, state: 30, at: 900 })
        yield* s.save("p", { stream: "S", sequence: 20, state: "twenty", at: 1100 })
        yield* s.save("other", { stream: "T", sequence: 99, state: null, at: 5 })
        assert.deepStrictEqual(
          yield* s.latest("p"),
          Option.some({ name: "p", stream: "S", sequence: 30, state: 30, at: 900 })
        )
        assert.deepStrictEqual(yield* s.list("p"), [
          { name: "p", stream: "S", sequence: 30, state: 30, at: 900 },
          { name: "p", stream: "S", sequence: 20, state: "twenty", at: 1100 },
          { name: "p", stream: "S", sequence: 10, state: { n: 10, nested: [1, "a", null, true] }, at: 1000 }
        ])
        yield* s.save("p", { stream: "S2", sequence: 30, state: { replaced: true }, at: 2000 })
        assert.deepStrictEqual(
          yield* s.latest("p"),
          Option.some({ name: "p", stream: "S2", sequence: 30, state: { replaced: true }, at: 2000 })
        )
        assert.strictEqual((yield* s.list("p")).length, 3)
        assert.deepStrictEqual(yield* s.list("other"), [{ name: "other", stream: "T", sequence: 99, state: null, at: 5 }])
      }))

    test("sequences order as numbers (9 before 10, 0 first); names are any strings, kept apart", () =>
      Effect.gen(function*() {
        const s = yield* store
        for (const sequence of [9, 10, 0, 100, 1_000_000_000_000]) {
          yield* s.save("a.b c/ü", { stream: "S", sequence, state: sequence, at: 0 })
        }
        yield* s.save("a.b c", { stream: "S", sequence: 7, state: 7, at: 0 })
        assert.deepStrictEqual(
          (yield* s.list("a.b c/ü")).map((x) => x.sequence),
          [1_000_000_000_000, 100, 10, 9, 0]
        )
        assert.deepStrictEqual((yield* s.list("a.b c")).map((x) => [x.name, x.sequence]), [["a.b c", 7]])
      }))

    test("prune keeps the highest `keep`, answers how many it deleted; remove deletes one", () =>
      Effect.gen(function*() {
        const s = yield* store
        for (const sequence of [1, 2, 3, 4, 5]) yield* s.save("p", { stream: "S", sequence, state: sequence, at: 0 })
        yield* s.save("q", { stream: "S", sequence: 1, state: 1, at: 0 })
        assert.strictEqual(yield* s.prune("p", 2), 3)
        assert.deepStrictEqual((yield* s.list("p")).map((x) => x.sequence), [5, 4])
        assert.strictEqual(yield* s.prune("p", 2), 0)
        assert.strictEqual(yield* s.remove("p", 5), true)
        assert.strictEqual(yield* s.remove("p", 5), false)
        assert.deepStrictEqual((yield* s.latest("p")).pipe(Option.map((x) => x.sequence)), Option.some(4))
        assert.strictEqual(yield* s.prune("p", 0), 1)
        assert.deepStrictEqual(yield* s.latest("p"), Option.none())
        assert.deepStrictEqual((yield* s.list("q")).map((x) => x.sequence), [1])
      }))

    test("bad input is an InvalidConfig, nothing saved", () =>
      Effect.gen(function*() {
        const s = yield* store
        const cyclic: Record<string, unknown> = {}
        cyclic.self = cyclic
        const cases: ReadonlyArray<readonly [Effect.Effect<unknown, ReplayError.ReplayError>, string]> = [
          [s.save("", { stream: "S", sequence: 1, state: 1, at: 0 }), "snapshot: name must be a non-empty string"],
          [s.save("p", { stream: "", sequence: 1, state: 1, at: 0 }), "snapshot of p: stream must be a non-empty string"],
          [
            s.save("p", { stream: "S", sequence: -1, state: 1, at: 0 }),
            "snapshot of p: sequence must be a non-negative integer, got -1"
          ],
          [
            s.save("p", { stream: "S", sequence: 1.5, state: 1, at: 0 }),
            "snapshot of p: sequence must be a non-negative integer, got 1.5"
          ],
          [s.save("p", { stream: "S", sequence: 1, state: 1, at: Number.NaN }), "snapshot of p: at must be an integer time, got NaN"],
          [s.save("p", { stream: "S", sequence: 1, state: undefined, at: 0 }), "snapshot of p: the state is not a JSON value"],
          [s.save("p", { stream: "S", sequence: 1, state: cyclic, at: 0 }), "snapshot of p: the state is not a JSON value"],
          [s.save("p", { stream: "S", sequence: 1, state: 1n, at: 0 }), "snapshot of p: the state is not a JSON value"],
          [s.prune("p", -1), "keep must be a non-negative integer, got -1"],
          [s.remove("p", 0.5), "sequence must be a non-negative integer, got 0.5"]
        ]
        for (const [effect, detail] of cases) {
          const reason = yield* reasonOf(effect)
          assert.strictEqual(reason._tag, "InvalidConfig")
          assert.strictEqual(reason.message, `invalid replay configuration: ${detail}`)
        }
        assert.deepStrictEqual(yield* s.list("p"), [])
      }))

    if (harness.corrupt !== undefined) {
      const corrupt = harness.corrupt
      test("a stored snapshot that does not parse is a CorruptState for latest and list", () =>
        Effect.gen(function*() {
          const s = yield* store
          yield* s.save("p", { stream: "S", sequence: 1, state: 1, at: 0 })
          yield* s.save("p", { stream: "S", sequence: 2, state: 2, at: 0 })
          yield* corrupt("p", 2)
          for (const effect of [s.latest("p"), s.list("p")] as const) {
            const reason = yield* reasonOf<unknown, ReplayError.ReplayError, never>(effect)
            assert.strictEqual(reason._tag, "CorruptState")
            assert.strictEqual((reason as ReplayError.CorruptState).projection, "p")
          }
          assert.strictEqual(yield* s.remove("p", 2), true)
          assert.deepStrictEqual(
            yield* s.latest("p"),
            Option.some({ name: "p", stream: "S", sequence: 1, state: 1, at: 0 })
          )
        }))
    }
  })
}
