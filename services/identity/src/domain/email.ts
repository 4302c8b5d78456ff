/** Longest address SMTP can carry (RFC 5321 §4.5.3.1.3 path limit minus the brackets). */
export const MAX_EMAIL_LENGTH = 254;
const MAX_LOCAL_PART_LENGTH = 64;

// RFC 5322 dot-atom local part; a DNS host name with at least two labels and an alphabetic
// (or punycode) top-level label. Quoted local parts and IP-literal domains are not accepted.
const localPart = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const domainLabel = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const topLevelLabel = /^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;

/** The form an email is stored, compared and rate-limited in: trimmed and lower-cased. */
export function normalizeEmail(raw: string): string {
  return raw.trim().toLowerCase();
}

export type EmailCheck = { ok: true; email: string } | { ok: false; reason: string };

/** Normalizes `raw` and checks it is a plausible deliverable address. */
export function parseEmail(raw: string): EmailCheck {
  const email = normalizeEmail(raw);
  if (email.length === 0) return { ok: false, reason: 'must not be empty' };
  if (email.length > MAX_EMAIL_LENGTH) return { ok: false, reason: `must be at most ${MAX_EMAIL_LENGTH} characters` };
  const at = email.lastIndexOf('@');
  if (at <= 0 || at === email.length - 1) return { ok: false, reason: 'must look like name@example.com' };
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if (local.length > MAX_LOCAL_PART_LENGTH || !localPart.test(local)) return { ok: false, reason: 'has an invalid part before the @' };
  const labels = domain.split('.');
  if (labels.length < 2 || !labels.every((label) => domainLabel.test(label)) || !topLevelLabel.test(labels.at(-1)!)) {
    return { ok: false, reason: 'has an invalid domain after the @' };
  }
  return { ok: true, email };
}
