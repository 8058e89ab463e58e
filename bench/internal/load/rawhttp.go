package load

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// rawPool holds the idle raw connections of a run. A sender takes the one
// that went idle last and dials only when none is idle, as net/http's
// Transport does: the server sees as many connections as requests are in
// flight at once, not as many as there are senders. At a fixed rate the
// senders number 1,024 (the in-flight limit); handing them out in turn
// kept 1,024 connections busy, each woken every 64 ms at 16,000 req/s, and
// that alone raised the ceiling server's p99 from 12–15 to 31 ms.
type rawPool struct {
	proto *rawConn // what every connection shares: address, request head, timeout
	now   func() time.Time

	mu   sync.Mutex
	idle []*rawConn
	all  []*rawConn
}

// maxIdle is how long a pooled connection may sit unused before it is
// dialed anew: well under servers' idle timeouts (the ingestor's is 120
// s), so a request never goes out on a connection the server is closing.
const maxIdle = 10 * time.Second

// newRawPool returns the pool for target; see newRawConn.
func newRawPool(target, key string, timeout time.Duration) (*rawPool, error) {
	proto, err := newRawConn(target, key, timeout)
	if err != nil {
		return nil, err
	}
	return &rawPool{proto: proto, now: time.Now}, nil
}

// get returns the connection that went idle last, or a new one (which
// dials on its first post).
func (p *rawPool) get() *rawConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.idle); n > 0 {
		rc := p.idle[n-1]
		p.idle = p.idle[:n-1]
		if p.now().Sub(rc.idleSince) > maxIdle {
			rc.close() // the next post dials
		}
		return rc
	}
	rc := &rawConn{addr: p.proto.addr, head: p.proto.head, timeout: p.proto.timeout}
	p.all = append(p.all, rc)
	return rc
}

// put hands rc back once its answer was read. A connection that failed
// has closed itself and dials again when next taken.
func (p *rawPool) put(rc *rawConn) {
	p.mu.Lock()
	rc.idleSince = p.now()
	p.idle = append(p.idle, rc)
	p.mu.Unlock()
}

// opened is how many connections the run needed at most.
func (p *rawPool) opened() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.all)
}

// close closes every connection; the pool is done.
func (p *rawPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rc := range p.all {
		rc.close()
	}
}

// rawConn is one keep-alive HTTP/1.1 connection, written and read
// directly: the request is one prebuilt write, and the answer is read with
// one buffered reader, on the sender's own goroutine. net/http's client
// hands every request to two goroutines of its own and builds header maps
// for both directions; on these two cores that cost about as much CPU per
// request as the ceiling server spends answering it, taken from the server
// under test. Both the ceiling and Tally are loaded through this client, so
// the ratios compare like with like. Only plain http targets use it (Run
// falls back to net/http for https or a caller's Client).
type rawConn struct {
	addr    string
	head    []byte // request line and fixed headers, up to "Content-Length: "
	timeout time.Duration

	conn      net.Conn
	br        *bufio.Reader
	idleSince time.Time // when it went back to its pool
	out       []byte
	body      []byte
}

// newRawConn prepares a sender for POSTs of JSON bodies to target (an
// http:// URL with the path). It does not dial; the first request does.
func newRawConn(target, key string, timeout time.Duration) (*rawConn, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("raw client: scheme %q: only http", u.Scheme)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	path := u.RequestURI()
	head := []byte("POST " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nContent-Type: application/json\r\n")
	if key != "" {
		head = append(head, "Authorization: Bearer "+key+"\r\n"...)
	}
	head = append(head, "Content-Length: "...)
	return &rawConn{addr: addr, head: head, timeout: timeout}, nil
}

// errStatus is a malformed answer: the connection is dropped.
var errStatus = errors.New("raw client: malformed response")

// post sends body and returns the status and the answer's body, which is
// valid until the next post. The exchange must end by deadline, or by the
// connection's timeout if that comes first. Any error closes the
// connection; the next post dials again.
func (r *rawConn) post(body []byte, deadline time.Time) (int, []byte, error) {
	if r.conn == nil {
		c, err := net.DialTimeout("tcp", r.addr, 5*time.Second)
		if err != nil {
			return 0, nil, err
		}
		r.conn = c
		if r.br == nil {
			r.br = bufio.NewReaderSize(c, 16<<10)
		} else {
			r.br.Reset(c)
		}
	}
	if d := time.Now().Add(r.timeout); deadline.IsZero() || d.Before(deadline) {
		deadline = d
	}
	if err := r.conn.SetDeadline(deadline); err != nil {
		return 0, nil, r.fail(err)
	}
	r.out = append(r.out[:0], r.head...)
	r.out = strconv.AppendInt(r.out, int64(len(body)), 10)
	r.out = append(r.out, "\r\n\r\n"...)
	r.out = append(r.out, body...)
	if _, err := r.conn.Write(r.out); err != nil {
		return 0, nil, r.fail(err)
	}
	status, resp, keep, err := r.read()
	if err != nil {
		return 0, nil, r.fail(err)
	}
	if !keep {
		r.close()
	}
	return status, resp, nil
}

// read parses one answer: the status line, the headers it needs
// (Content-Length, Transfer-Encoding, Connection) and the body.
func (r *rawConn) read() (status int, body []byte, keep bool, err error) {
	line, err := r.line()
	if err != nil {
		return 0, nil, false, err
	}
	// "HTTP/1.1 202 Accepted"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, nil, false, errStatus
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, false, errStatus
	}
	keep = line[7] == '1'
	length, chunked := -1, false
	for {
		line, err = r.line()
		if err != nil {
			return 0, nil, false, err
		}
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return 0, nil, false, errStatus
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, nil, false, errStatus
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keep = false
			}
		}
	}
	r.body = r.body[:0]
	switch {
	case status < 200 || status == 204 || status == 304: // never a body
	case chunked:
		err = r.chunks()
	case length >= 0:
		r.body = grow(r.body, length)
		_, err = io.ReadFull(r.br, r.body)
	default: // the body runs to the end of the connection
		keep = false
		var b bytes.Buffer
		_, err = b.ReadFrom(r.br)
		r.body = b.Bytes()
	}
	if err != nil {
		return 0, nil, false, err
	}
	return status, r.body, keep, nil
}

// chunks reads a chunked body into r.body, then the trailer.
func (r *rawConn) chunks() error {
	for {
		line, err := r.line()
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 32)
		if err != nil || n < 0 {
			return errStatus
		}
		if n == 0 {
			for { // trailer fields, then the empty line
				if line, err = r.line(); err != nil || len(line) == 0 {
					return err
				}
			}
		}
		at := len(r.body)
		r.body = grow(r.body, at+int(n))
		if _, err := io.ReadFull(r.br, r.body[at:]); err != nil {
			return err
		}
		if line, err = r.line(); err != nil || len(line) != 0 {
			return errors.Join(err, errStatus)
		}
	}
}

// line returns the next line without its CRLF; it is valid until the next
// read.
func (r *rawConn) line() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errStatus
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// grow returns b resized to n bytes, reusing its array when it fits.
func grow(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	return append(b[:cap(b)], make([]byte, n-cap(b))...)
}

func (r *rawConn) fail(err error) error {
	r.close()
	return err
}

func (r *rawConn) close() {
	if r.conn != nil {
		r.conn.Close()
		r.conn = nil
	}
}
