/**
 * How the `herald` command writes its reports for people: aligned tables,
 * byte sizes, times.
 *
 * @since 0.1.0
 */

/**
 * Column alignment.
 *
 * @since 0.1.0
 * @category models
 */
export type Align = "left" | "right"

/**
 * A table: a header row and rows of cells, columns padded to their widest
 * cell (numbers right-aligned where `align` says so), two spaces apart.
 * An empty table is its header and a `(none)` line.
 *
 * @since 0.1.0
 * @category formatting
 */
export const table = (
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  align?: ReadonlyArray<Align>
): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, i) => align?.[i] === "right" ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))
      .join("  ")
      .trimEnd()
  const out = [line(header), line(widths.map((w) => "-".repeat(w)))]
  for (const row of rows) out.push(line(row))
  if (rows.length === 0) out.push("(none)")
  return out.join("\n")
}

/**
 * `1536` → `1.5 KiB`; below 1 KiB in bytes (`512 B`).
 *
 * @since 0.1.0
 * @category formatting
 */
export const bytes = (n: number): string => {
  if (n < 1024) return `${n} B`
  const units = ["KiB", "MiB", "GiB", "TiB"]
  let value = n / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(1)} ${units[unit]}`
}

/**
 * A time as `2026-12-06 05:20:01` (UTC).
 *
 * @since 0.1.0
 * @category formatting
 */
export const time = (millis: number): string => new Date(millis).toISOString().slice(0, 19).replace("T", " ")

/**
 * How long ago `millis` was, from `now`: `4s ago`, `3m ago`, `2h ago`, `5d ago`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const ago = (millis: number, now: number): string => {
  const seconds = Math.max(0, Math.round((now - millis) / 1000))
  if (seconds < 120) return `${seconds}s ago`
  if (seconds < 7200) return `${Math.round(seconds / 60)}m ago`
  if (seconds < 172_800) return `${Math.round(seconds / 3600)}h ago`
  return `${Math.round(seconds / 86_400)}d ago`
}

/**
 * A duration in milliseconds as `30s`, `1m30s`, `250ms`; `0` as `-`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const duration = (millis: number): string => {
  if (millis === 0) return "-"
  if (millis < 1000) return `${millis}ms`
  const seconds = Math.round(millis / 1000)
  const minutes = Math.floor(seconds / 60)
  return minutes === 0 ? `${seconds}s` : seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`
}

/**
 * A text cut to `max` characters (`…` marking the cut), on one line.
 *
 * @since 0.1.0
 * @category formatting
 */
export const clip = (text: string, max: number): string => {
  const one = text.replace(/[\r\n\t]+/g, " ")
  return one.length <= max ? one : `${one.slice(0, max - 1)}…`
}
