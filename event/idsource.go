package event

// HeaderFallbackIdempotencyKey is an array element's key when the element
// has none of its own: "<Idempotency-Key>:<index>". A key in the value wins
// over it, and HeaderIdempotencyKey wins over both (normalize.Input).
const HeaderFallbackIdempotencyKey = "tally-idempotency-key-fallback"

// What an event id was formed from (Canonical.IDSource). Content ids merge
// distinct events that agree on every hashed field, so the coarser the
// timestamp the more they merge: producers should send a key.
const (
	// IDSourceKey: client id and idempotency key.
	IDSourceKey = "key"
	// IDSourceContent: client, metric, amount and a timestamp with a
	// sub-second part.
	IDSourceContent = "content"
	// IDSourceContentCoarse: the same, but the timestamp is a whole second
	// ("2024/01/01", epoch seconds, RFC 3339 without a fraction — or, one
	// time in a thousand, a millisecond timestamp that ends in .000). Two
	// events of one client, metric and amount in that second are one event.
	IDSourceContentCoarse = "content_coarse"
	// IDSourceContentNoTimestamp: client, metric and amount only (the
	// producer sent no timestamp): every such event with the same three
	// values, at any time, is one event.
	IDSourceContentNoTimestamp = "content_no_timestamp"
)

// IDSource says what the event's id was formed from: one of the IDSource
// constants. It is derived from stored fields only (the key, whether the
// timestamp was defaulted, the timestamp), so every reader — the ingest
// answer, the processor, the query API's event detail — can say it for any
// stored event without a schema change.
func (c Canonical) IDSource() string {
	return IDSourceOf(c.IdempotencyKey, c.TimestampDefaulted, c.Timestamp.UnixMilli())
}

// IDSourceOf is Canonical.IDSource over the stored columns: the idempotency
// key, the timestamp-defaulted flag and the timestamp in Unix milliseconds.
func IDSourceOf(idempotencyKey string, timestampDefaulted bool, timestampMs int64) string {
	switch {
	case idempotencyKey != "":
		return IDSourceKey
	case timestampDefaulted:
		return IDSourceContentNoTimestamp
	case timestampMs%1000 == 0:
		return IDSourceContentCoarse
	}
	return IDSourceContent
}

// CoarseID reports an id that may merge distinct events: formed from content
// whose timestamp is a whole second, or that has no timestamp.
func (c Canonical) CoarseID() bool {
	s := c.IDSource()
	return s == IDSourceContentCoarse || s == IDSourceContentNoTimestamp
}
