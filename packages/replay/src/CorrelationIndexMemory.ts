/**
 * The correlation index in memory: for tests and single-process tools. It
 * holds every entry in the process and loses them when the process ends;
 * a new process rebuilds it by running the index from the stream's start.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as CorrelationIndex from "./CorrelationIndex.ts"

/**
 * A fresh, empty index.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<CorrelationIndex.CorrelationIndex["Service"]> = Effect.sync(() => {
  /** stream → sequence → entry */
  const byStream = new Map<string, Map<number, CorrelationIndex.Entry>>()
  /** correlation id → its entries (unordered) */
  const byCorrelation = new Map<string, Set<CorrelationIndex.Entry>>()

  const record = (entries: ReadonlyArray<CorrelationIndex.Entry>) =>
    Effect.suspend(() => {
      const checked = CorrelationIndex.validateEntries(entries)
      if (Result.isFailure(checked)) return Effect.fail(checked.failure)
      let added = 0
      for (const given of checked.success) {
        let sequences = byStream.get(given.stream)
        if (sequences === undefined) {
          sequences = new Map()
          byStream.set(given.stream, sequences)
        }
        if (sequences.has(given.sequence)) continue
        // A copy: the caller's object may change after this.
        const entry: CorrelationIndex.Entry = {
          correlationId: given.correlationId,
          messageId: given.messageId,
          causationId: given.causationId,
          type: given.type,
          kind: given.kind ?? null,
          subject: given.subject,
          stream: given.stream,
          sequence: given.sequence,
          timestamp: given.timestamp
        }
        sequences.set(entry.sequence, entry)
        let flow = byCorrelation.get(entry.correlationId)
        if (flow === undefined) {
          flow = new Set()
          byCorrelation.set(entry.correlationId, flow)
        }
        flow.add(entry)
        added++
      }
      return Effect.succeed(added)
    })

  const lookup = (correlationId: string, options?: CorrelationIndex.LookupOptions) =>
    Effect.suspend(() => {
      const checked = CorrelationIndex.checkName("lookup: correlationId", correlationId)
      if (Result.isFailure(checked)) return Effect.fail(checked.failure)
      if (options?.stream !== undefined) {
        const stream = CorrelationIndex.checkName("lookup: stream", options.stream)
        if (Result.isFailure(stream)) return Effect.fail(stream.failure)
      }
      const found = [...(byCorrelation.get(correlationId) ?? [])]
        .filter((e) => options?.stream === undefined || e.stream === options.stream)
        .sort(CorrelationIndex.order)
      return Effect.succeed(found as ReadonlyArray<CorrelationIndex.Entry>)
    })

  const forget = (stream: string) =>
    Effect.suspend(() => {
      const checked = CorrelationIndex.checkName("forget: stream", stream)
      if (Result.isFailure(checked)) return Effect.fail(checked.failure)
      const sequences = byStream.get(stream)
      if (sequences === undefined) return Effect.succeed(0)
      byStream.delete(stream)
      for (const entry of sequences.values()) {
        const flow = byCorrelation.get(entry.correlationId)!
        flow.delete(entry)
        if (flow.size === 0) byCorrelation.delete(entry.correlationId)
      }
      return Effect.succeed(sequences.size)
    })

  return CorrelationIndex.CorrelationIndex.of({ kind: "memory", record, lookup, forget })
})

/**
 * A fresh, empty index as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<CorrelationIndex.CorrelationIndex> = Layer.effect(CorrelationIndex.CorrelationIndex, make)
