// Reads the server's /metrics (Prometheus text format 0.0.4) and turns two successive scrapes into
// rates and latency figures for the charts, as Prometheus' rate() and histogram_quantile() would.

/** `name{a="1",b="x"} 12.5` lines into samples: { name, labels, value }. Comments are skipped. */
export function parsePrometheus(text) {
  const samples = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels = {};
    const body = match[2] ?? '';
    const labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    let label;
    while ((label = labelPattern.exec(body)) !== null) {
      labels[label[1]] = label[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    const value = match[3] === '+Inf' ? Infinity : match[3] === '-Inf' ? -Infinity : Number(match[3]);
    samples.push({ name: match[1], labels, value });
  }
  return samples;
}

const matches = (labels, filter) => Object.entries(filter).every(([key, value]) => labels[key] === value);

/** The sum of every sample of a metric (optionally only those whose labels match `filter`). */
export function total(samples, name, filter = {}) {
  let sum = 0;
  let found = false;
  for (const sample of samples) {
    if (sample.name === name && matches(sample.labels, filter)) {
      sum += sample.value;
      found = true;
    }
  }
  return found ? sum : undefined;
}

/** A histogram summed over its other labels: cumulative buckets by `le`, sum and count. */
export function histogram(samples, name) {
  const buckets = new Map();
  for (const sample of samples) {
    if (sample.name !== `${name}_bucket`) continue;
    const le = sample.labels.le === '+Inf' ? Infinity : Number(sample.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + sample.value);
  }
  return {
    buckets: [...buckets.entries()].sort((a, b) => a[0] - b[0]),
    sum: total(samples, `${name}_sum`) ?? 0,
    count: total(samples, `${name}_count`) ?? 0,
  };
}

/** What was observed between two scrapes of a histogram. */
export function histogramDelta(before, after) {
  const previous = new Map(before.buckets);
  return {
    buckets: after.buckets.map(([le, count]) => [le, count - (previous.get(le) ?? 0)]),
    sum: after.sum - before.sum,
    count: after.count - before.count,
  };
}

/** The q-quantile of a histogram, interpolated linearly within its bucket (histogram_quantile). */
export function quantile(q, hist) {
  if (hist.count <= 0 || hist.buckets.length === 0) return undefined;
  const rank = q * hist.count;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [le, cumulative] of hist.buckets) {
    if (cumulative >= rank) {
      if (le === Infinity) return lowerBound;
      const inBucket = cumulative - lowerCount;
      return inBucket <= 0 ? le : lowerBound + (le - lowerBound) * ((rank - lowerCount) / inBucket);
    }
    lowerBound = le;
    lowerCount = cumulative;
  }
  return lowerBound;
}
