/**
 * zod at the boundaries: parse once, turn a validation failure into one NanoroiError line that
 * names the bad field ("geometry.detector.cols: must be a positive integer").
 */
import { z } from 'zod';
import { NanoroiError } from './errors.js';

export function formatZodIssues(error: z.ZodError, what: string): string {
  const parts = error.issues.slice(0, 3).map((iss) => {
    const at = iss.path.length ? `${what}.${iss.path.map(String).join('.')}` : what;
    return `${at}: ${iss.message}`;
  });
  const more = error.issues.length > 3 ? ` (and ${error.issues.length - 3} more)` : '';
  return parts.join('; ') + more;
}

export function parseWith<S extends z.ZodType>(schema: S, data: unknown, what: string): z.output<S> {
  const r = schema.safeParse(data);
  if (!r.success) throw new NanoroiError('E_SCHEMA', formatZodIssues(r.error, what));
  return r.data;
}

/** Parse JSON text, with a clear error that names the file. */
export function parseJsonText(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new NanoroiError('E_FORMAT', `${file} is not valid JSON: ${(e as Error).message}`);
  }
}

export const finitePositive = (msg = 'must be a positive finite number') =>
  z.number({ error: 'must be a number' }).refine((v) => Number.isFinite(v) && v > 0, { message: msg });
export const finiteNumber = () => z.number({ error: 'must be a number' }).refine((v) => Number.isFinite(v), { message: 'must be finite' });
export const positiveInt = () => z.number({ error: 'must be a number' }).int('must be an integer').positive('must be positive');
export const point3 = () => z.object({ x: finiteNumber(), y: finiteNumber(), z: finiteNumber() }).strict();
