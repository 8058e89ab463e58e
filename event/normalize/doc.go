// Package normalize turns one producer's raw JSON event into Tally's
// canonical event (event.Canonical) and its event id, or into a Rejection
// with a machine-readable code. The ingestor runs it as a preflight (to
// answer 4xx early and key records by event id); the processor runs it as
// the authority. Both must use the same Config, or ids will differ.
//
// Invariants: the same logical event always gets the same id, whatever the
// key order, alias, nesting, number spelling, server time zone or clock; a
// value that cannot be read exactly is rejected, never replaced or rounded;
// no input can panic, hang, or allocate more than a small multiple of its
// size. An Engine is immutable and safe for concurrent use.
//
// # Input limits
//
// In this order: more than limits.maxBytes (default 1 MiB) → too_large;
// bytes that are not UTF-8, or \u escapes with lone surrogates →
// invalid_utf8; anything that is not exactly one RFC 8259 value (trailing
// data, NaN, Infinity, leading zeros, control characters in strings, bad
// escapes) → invalid_json; nesting deeper than limits.maxDepth (default 32;
// the top-level object is depth 1) → too_deep; any object anywhere
// repeating a key (compared after unescaping) → duplicate_key; a value that
// is not an object → not_object. Batches (arrays, NDJSON) are split by the
// caller; the engine reads one event.
//
// # Finding fields
//
// Each canonical field has ordered aliases (fields.<name>.aliases), looked
// up in every scope (scopes: "" is the top level, "payload" the nested
// object; a scope that is absent or not an object is skipped). The first
// alias present in any scope wins; for one alias the first scope wins. An
// alias may be a dotted path below a scope ("data.attributes.value"); keys
// containing dots can then not be named. One raw key may serve only one
// field. A key that is present with a wrong type (null, bool, array,
// object) is invalid, not missing: null is not "no value".
//
// Profiles match the trimmed client id exactly. Their aliases are tried
// before the global ones of the same field (the client id itself is always
// found with the global aliases, since it selects the profile); their
// amountExponent scales amounts by 10^n (-2 turns cents into units); their
// timezone replaces timestamp.timezone.
//
// # Fields
//
// clientId (required; client_missing, client_invalid) and metric
// (default "unknown", or required → metric_missing; metric_invalid) must be
// strings; they are trimmed of ASCII whitespace and must then be 1..maxLength
// bytes without control characters. They are case-sensitive.
//
// amount (amount_missing unless a default is set): a JSON number, read from
// its original text (never through float64, so 9007199254740993 stays
// exact), or a string with optional surrounding whitespace, one sign before
// or after one currency symbol (amount.currencySymbols), thousands
// separators in valid groups of three ("1,200" but not "1,2" — a decimal
// comma is not guessed), a fraction and an exponent: "1200", 1200, 1200.0,
// "1,200", "$1,200.50", "-$5", "1e3", " 42 " are accepted. Booleans,
// arrays, objects, null, NaN, Infinity, hex and empty strings →
// amount_invalid. The value after profile scaling must fit event.Amount:
// more than 9 significant fractional digits → amount_precision (1e-400 is
// rejected, not 0; trailing zeros do not count), more than int64 units →
// amount_range; negatives → amount_negative when amount.allowNegative is
// false.
//
// idempotencyKey: Input.IdempotencyKey (the HTTP Idempotency-Key or Kafka
// tally-idempotency-key header) wins over payload fields; a payload key is a
// string or an integer JSON number (12345 and "12345" are the same key).
// Keys are opaque (not trimmed), 1..maxLength bytes, no control characters,
// else idempotency_key_invalid; idempotency_key_missing only if required.
//
// # Timestamps
//
// A JSON number, or a string that is a plain number ("1704067200",
// "1704067200.5"), is a Unix epoch whose unit follows its magnitude |v|:
// below timestamp.epoch.secondsBelow (1e11) seconds, below millisBelow
// (1e14) milliseconds, below microsBelow (1e17) microseconds, else
// nanoseconds. So "20240101" is read as seconds (1970-08-23), not as a
// date. Other strings are trimmed and read as:
//
//   - the built-in ISO 8601 / RFC 3339 forms: YYYY-MM-DD or YYYY/MM/DD
//     (one-digit month and day allowed), optionally followed by T, t or a
//     space and HH:MM[:SS[.fraction]] (fraction with '.' or ',', 1..9
//     digits), optionally followed by Z, z, ±HH:MM, ±HHMM or ±HH;
//   - then each Go layout in timestamp.layouts, in order.
//
// Text without an offset is in timestamp.timezone (default UTC; a
// profile's timezone wins; "Local" is refused because it depends on the
// server). For local times in a DST gap or overlap Go's time.Date rule
// applies. Impossible dates (2024-02-30, month 13, hour 24, offsets beyond
// ±23:59 such as +24:00) → timestamp_unparseable, as is any text no rule
// reads ("not a date" is never "now"). Leap seconds: second 60 is accepted
// only at minute 59 and read as hh:59:59.999 of that minute, so it stays on
// its day and sorts before the next minute; layouts do not accept it.
//
// Ambiguity: numeric dates like 01/02/2024, 1.2.2024 or 01-02-24 cannot
// be read without knowing the producer's day/month order, so unless a
// configured layout parses them (e.g. "01/02/2006" for month first, or
// "02/01/2006" for day first, best in a profile of the producers that use
// it) they are rejected with timestamp_ambiguous — even when a part above
// 12 would disambiguate, so one producer's events never mix two orders.
//
// The result is truncated (floored) to milliseconds and must lie in
// [timestamp.min, timestamp.max), default [1970-01-01, 2100-01-01), else
// timestamp_out_of_range. The range is fixed configuration, never relative
// to the clock, so whether an event is valid never changes with time.
//
// Missing timestamp, policy timestamp.missing:
//   - "received" (default): the event gets Input.ReceivedAt (in ms) and
//     TimestampDefaulted=true, and its id leaves the timestamp out, so a
//     resent timestamp-less event keeps its id although it was received at
//     another time. Trade-off: two genuinely different timestamp-less events
//     with the same client, metric and amount are one logical event, counted
//     once, unless the producer sends an idempotency key (header or field)
//     or a timestamp. If Input.ReceivedAt is zero → timestamp_missing.
//   - "reject": timestamp_missing.
//
// # Event id
//
// The id is the lowercase hex SHA-256 of
//
//	"tally-id-v1" 0x00 kind fields...
//
// where each field is its byte length as an unsigned LEB128 varint
// (encoding/binary.AppendUvarint: one byte below 128) followed by its UTF-8
// bytes, and kind is one byte:
//
//	'C'  clientId, metric, amount, timestamp   (a timestamp was sent)
//	'D'  clientId, metric, amount              (timestamp defaulted to received time)
//	'K'  clientId, idempotency key             (a key was sent)
//
// amount is event.Amount.String() (shortest exact decimal: "1200",
// "-0.5"); timestamp is the Unix time in milliseconds in decimal ASCII;
// clientId and metric are the trimmed values (metric after defaulting). So
// the id never depends on key order, the alias or scope used, number
// spelling ("1,200" = 1200 = 1.2e3), time zone spelling of the same instant,
// or the server's zone and clock. An idempotency key scopes to the client:
// the same key from two clients is two events.
//
// Canonical events fed back in are a fixed point: a payload key that equals
// the event's own 'C' or 'D' id is recognized as Tally's id (not a producer
// key), idempotencyKey is tried before eventId, and a keyed event whose
// top-level eventId equals its 'K' id keeps a top-level
// "timestampDefaulted": true; so normalizing the JSON of an event.Canonical
// returns that same event.
//
// # Checks order
//
// Rejections report the first failure, in this order: limits and syntax,
// client id, metric, amount, idempotency key, timestamp. Rejection.ClientHint
// carries the client id whenever it was read, for per-producer auditing.
//
// # Configuration
//
// DefaultConfig is default.yaml (embedded), which documents every key.
// LoadConfig reads a full YAML config (unknown keys are errors, nothing is
// merged from the default) and Validate reports every problem at once.
// RunCLI dry-runs a config over NDJSON.
package normalize
