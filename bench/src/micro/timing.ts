/** A tiny timing loop for micro-benchmarks: ns per call, best of a few rounds. */
export const measure = (name: string, iterations: number, f: (i: number) => unknown): number => {
  let sink: unknown
  for (let i = 0; i < Math.min(iterations, 20_000); i++) sink = f(i)
  let best = Number.POSITIVE_INFINITY
  for (let round = 0; round < 5; round++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < iterations; i++) sink = f(i)
    const ns = Number(process.hrtime.bigint() - t0) / iterations
    if (ns < best) best = ns
  }
  if (sink === Symbol.for("never")) console.log(sink)
  console.log(`${name.padEnd(64)} ${best.toFixed(0).padStart(7)} ns/op`)
  return best
}

/** The same for async work: ns per item when `f` processes `n` items. */
export const measureAsync = async (name: string, n: number, f: () => Promise<unknown>): Promise<number> => {
  await f()
  let best = Number.POSITIVE_INFINITY
  for (let round = 0; round < 5; round++) {
    const t0 = process.hrtime.bigint()
    await f()
    const ns = Number(process.hrtime.bigint() - t0) / n
    if (ns < best) best = ns
  }
  console.log(`${name.padEnd(64)} ${best.toFixed(0).padStart(7)} ns/op`)
  return best
}
