/** What the two processes of the peak RSS row share (nothing of Herald, Effect or nats.js). */

export const arg = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === "") throw new Error(`rss process: ${name} is not set`)
  return value
}

/** The process's last line: what it did and its peak RSS (`process.resourceUsage().maxRSS`, kB). */
export const report = (done: { readonly count: number; readonly sink: number; readonly rssBefore: number; readonly millis: number }) => {
  process.stdout.write(
    JSON.stringify({ ...done, maxRssKb: process.resourceUsage().maxRSS, rssEnd: process.memoryUsage().rss }) + "\n"
  )
}
