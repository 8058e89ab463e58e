package normalize

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tally-dev/tally/event"
)

// cliResult is one output line of RunCLI.
type cliResult struct {
	Status string           `json:"status"` // "ok" or "rejected"
	Event  *event.Canonical `json:"event,omitempty"`
	Reason string           `json:"reason,omitempty"`
	Code   string           `json:"code,omitempty"`
	Field  string           `json:"field,omitempty"`
	// Explain is set with --explain only.
	Explain *Explanation `json:"explain,omitempty"`
}

// CLIOptions tune RunCLI.
type CLIOptions struct {
	// Explain adds, to every result line, which rule produced each
	// canonical field and how the event id was formed.
	Explain bool
	// Format is the layout of every input line (default: Tally JSON).
	Format Format
	// Attributes are the context attributes of every line with
	// FormatCloudEventBinary (each line is then the event's data).
	Attributes map[string]string
	// SentAt is the Segment batch sentAt for every line with FormatSegment.
	SentAt string
}

// RunCLI dry-runs a config over NDJSON: one raw event per input line, one
// JSON result per non-blank line, in order:
//
//	{"status":"ok","event":{...canonical event...}}
//	{"status":"rejected","reason":"...","code":"...","field":"..."}
//
// With opts.Explain each line also carries "explain": which alias, scope,
// path or attribute each field came from, which timestamp rule read it,
// which default or profile applied, and how the event id was formed. Events
// without a timestamp get the time the line was read (so their printed
// timestamp varies; their id does not). Lines longer than the config's
// maxBytes are reported as too_large without being held in memory. The
// error is for bad configs and I/O only; rejections are output.
func RunCLI(cfg *Config, in io.Reader, out io.Writer, opts CLIOptions) error {
	return runCLI(cfg, in, out, time.Now, opts)
}

func runCLI(cfg *Config, in io.Reader, out io.Writer, now func() time.Time, opts CLIOptions) error {
	eng, err := New(cfg)
	if err != nil {
		return err
	}
	r := bufio.NewReaderSize(in, 64<<10)
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var line []byte
	for lineNo := 1; ; lineNo++ {
		var tooLong, eof bool
		line, tooLong, eof, err = readLine(r, line[:0], eng.maxBytes+2) // +2: room for "\r\n"
		if err != nil {
			return fmt.Errorf("read line %d: %w", lineNo, err)
		}
		line = trimSpace(line)
		var res cliResult
		switch {
		case tooLong:
			res = cliResult{Status: "rejected", Code: CodeTooLarge,
				Reason: fmt.Sprintf("event is larger than %d bytes", eng.maxBytes)}
		case len(line) == 0:
			if eof {
				return flush(w)
			}
			continue
		default:
			in := Input{Raw: line, ReceivedAt: now(), Format: opts.Format, Attributes: opts.Attributes, SentAt: opts.SentAt}
			var ev event.Canonical
			var rej *Rejection
			var ex *Explanation
			if opts.Explain {
				ev, rej, ex = eng.Explain(in)
			} else {
				ev, rej = eng.Normalize(in)
			}
			if rej != nil {
				res = cliResult{Status: "rejected", Reason: rej.Message, Code: rej.Code, Field: rej.Field, Explain: ex}
			} else {
				res = cliResult{Status: "ok", Event: &ev, Explain: ex}
			}
		}
		if err := enc.Encode(res); err != nil {
			return fmt.Errorf("write result of line %d: %w", lineNo, err)
		}
		if eof {
			return flush(w)
		}
	}
}

func flush(w *bufio.Writer) error {
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// readLine appends one line (without its '\n') to buf. Past limit bytes it
// stops keeping the line and discards up to the next newline.
func readLine(r *bufio.Reader, buf []byte, limit int) (line []byte, tooLong, eof bool, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > limit {
				tooLong = true
				buf = buf[:0]
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case err == nil:
			return buf[:len(buf)-min(len(buf), 1)], tooLong, false, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return buf, tooLong, true, nil
		default:
			return nil, false, false, err
		}
	}
}
