// The invariant every parser of outside data keeps: it returns, or throws an
// Error of ours (Error, TypeError, RangeError or a project error class) whose
// message names the file or field. Errors thrown by the engine itself
// (a property read on undefined, an invalid array length, a stack overflow ...)
// mean the parser trusted the input somewhere: those are findings.

/** Messages V8 and Node give for programming errors, never ones a parser means to throw. */
const INTERNAL = [
  /Cannot read propert/, /Cannot set propert/, /Cannot create property/, /Cannot destructure/, /Cannot convert/,
  /is not a function/, /is not iterable/, /is not a constructor/, /is not defined/,
  /Maximum call stack size exceeded/, /Invalid array length/, /Invalid typed array length/, /Array buffer allocation failed/,
  /Invalid string length/, /out of bounds/i, /outside the bounds/i, /Reduce of empty array/, /Cannot mix BigInt/,
  /Invalid code point/, /Invalid time value/, /toFixed\(\) digits/, /Invalid count value/,
  /Division by zero/, /Start offset .* is outside/, /Invalid DataView length/,
];

const ALLOWED = new Set(['Error', 'TypeError', 'RangeError']);

/**
 * Why `error` breaks the invariant, or undefined when it keeps it.
 * `names`: strings of which the message must contain one (the file's path, a field prefix);
 * `classes`: extra error classes (by name) the target may throw.
 */
export function violation(error, { names = [], classes = [] } = {}) {
  if (!(error instanceof Error)) return `threw a non-Error: ${String(error).slice(0, 200)}`;
  const name = error.constructor?.name ?? error.name;
  const message = String(error.message);
  if (!ALLOWED.has(name) && !classes.includes(name)) return `threw ${name}: ${message.slice(0, 300)}`;
  if (typeof error.code === 'string' && error.code.startsWith('ERR_')) return `threw Node's ${error.code}: ${message.slice(0, 300)}`;
  // Also when wrapped in a message of ours: the engine's TypeError or RangeError still means an unchecked value
  // (a wrapped SyntaxError is a parser's own: JSON.parse's or RegExp's on text from the file).
  for (let e = error; e instanceof Error; e = e.cause) {
    if (!(e instanceof SyntaxError) && INTERNAL.some((re) => re.test(String(e.message)))) return `engine error ${e.constructor?.name}: ${String(e.message).slice(0, 300)}`;
  }
  if (names.length > 0 && !names.some((n) => message.includes(n))) return `${name} does not name the file or field: ${message.slice(0, 300)}`;
  return undefined;
}

/** The first line of the message with numbers and quoted strings blanked, and the top frame: what groups findings. */
export function signature(kind, detail, error) {
  const top = error instanceof Error ? (error.stack ?? '').split('\n').find((l) => l.includes(' at ')) ?? '' : '';
  const msg = String(detail).split('\n')[0].replace(/"(?:[^"\\]|\\.)*"/g, '"…"').replace(/\d+/g, 'N').slice(0, 120);
  return `${kind}: ${msg} ${top.trim().replace(/:\d+:\d+\)?$/, '')}`;
}
