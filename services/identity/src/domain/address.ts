/** The officially assigned ISO 3166-1 alpha-2 country codes (249). */
const countryCodes = new Set(
  (
    'AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ ' +
    'CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR ' +
    'GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP ' +
    'KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT ' +
    'MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW ' +
    'SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG ' +
    'UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW'
  ).split(' '),
);

/** Most addresses one account may keep. */
export const MAX_ADDRESSES_PER_USER = 20;

/** `code` upper-cased if it is an assigned ISO 3166-1 alpha-2 code, else undefined. */
export function normalizeCountry(code: string): string | undefined {
  const upper = code.trim().toUpperCase();
  return countryCodes.has(upper) ? upper : undefined;
}

export interface AddressInput {
  label?: string | undefined;
  name: string;
  line1: string;
  line2?: string | undefined;
  city: string;
  postalCode: string;
  country: string;
}

export type AddressCheck = { ok: true; address: AddressInput } | { ok: false; path: string; reason: string };

/** Trims every field, drops empty optional ones and checks the country code. */
export function normalizeAddress(input: AddressInput): AddressCheck {
  const country = normalizeCountry(input.country);
  if (!country) return { ok: false, path: 'body/country', reason: 'must be an ISO 3166-1 alpha-2 country code, such as DE or US' };
  const optional = (value: string | undefined): string | undefined => (value?.trim() ? value.trim() : undefined);
  return {
    ok: true,
    address: {
      label: optional(input.label),
      name: input.name.trim(),
      line1: input.line1.trim(),
      line2: optional(input.line2),
      city: input.city.trim(),
      postalCode: input.postalCode.trim(),
      country,
    },
  };
}
