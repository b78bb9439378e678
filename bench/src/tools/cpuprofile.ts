/**
 * Summarises a `.cpuprofile` (from `node --cpu-prof`): self time by function,
 * and total (inclusive) time of the functions whose name or file matches a
 * filter.
 *
 *   node src/tools/cpuprofile.ts <file.cpuprofile> [top=40] [filter]
 */
import { readFileSync } from "node:fs"

interface Node {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly children?: ReadonlyArray<number>
}
interface Profile {
  readonly nodes: ReadonlyArray<Node>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const [file, topArg, filter] = process.argv.slice(2)
if (file === undefined) throw new Error("usage: cpuprofile.ts <file> [top] [filter]")
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile
const top = Number(topArg ?? "40")

const byId = new Map<number, Node>()
const parent = new Map<number, number>()
for (const n of profile.nodes) {
  byId.set(n.id, n)
  for (const c of n.children ?? []) parent.set(c, n.id)
}
const short = (url: string) =>
  url.replace(/^file:\/\/.*node_modules\/\.pnpm\/([^/]+)\/node_modules\//, "$1:").replace(/^file:\/\/\/work\/main\//, "")
const key = (n: Node) => `${n.callFrame.functionName || "(anonymous)"} ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`

const self = new Map<string, number>()
const total = new Map<string, number>()
let all = 0
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i] ?? 0
  all += dt
  const leaf = byId.get(profile.samples[i]!)!
  self.set(key(leaf), (self.get(key(leaf)) ?? 0) + dt)
  const seen = new Set<string>()
  for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
    const k = key(byId.get(id)!)
    if (seen.has(k)) continue
    seen.add(k)
    total.set(k, (total.get(k) ?? 0) + dt)
  }
}
const area = (k: string): string => {
  const m = /^\S* (\S+?):\d+$/.exec(k)
  const file = m?.[1] ?? ""
  if (k.startsWith("(idle)")) return "(idle)"
  if (k.startsWith("(garbage collector)")) return "(gc)"
  if (file.startsWith("effect@")) return "effect"
  if (file.includes("@nats-io")) return "nats.js"
  if (file.startsWith("packages/")) return file.split("/").slice(0, 2).join("/")
  if (file.startsWith("bench/")) return "bench"
  if (file.startsWith("node:") || file === "") return "node/native"
  return file
}
const areas = new Map<string, number>()
for (const [k, v] of self) areas.set(area(k), (areas.get(area(k)) ?? 0) + v)
const pct = (x: number) => ((100 * x) / all).toFixed(1).padStart(5) + "%"
console.log(`total ${(all / 1000).toFixed(0)} ms`)
console.log("-- self, by area")
for (const [k, v] of [...areas].sort((a, b) => b[1] - a[1])) console.log(pct(v), `${(v / 1000).toFixed(0).padStart(6)} ms`, k)
console.log("-- self")
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(pct(v), k)
if (filter !== undefined) {
  console.log(`-- total, matching ${filter}`)
  const re = new RegExp(filter)
  for (const [k, v] of [...total].filter(([k]) => re.test(k)).sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(pct(v), k)
  }
}
