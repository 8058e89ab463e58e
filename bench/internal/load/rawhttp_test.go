package load

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// scripted accepts connections and answers each request read from one with
// the next of answers (raw bytes); it counts connections and checks what
// the client sent.
type scripted struct {
	t       *testing.T
	ln      net.Listener
	answers []string
	next    atomic.Int32
	conns   atomic.Int32
	bodies  chan string
}

func newScripted(t *testing.T, answers ...string) *scripted {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scripted{t: t, ln: ln, answers: answers, bodies: make(chan string, 100)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			go s.serve(c)
		}
	}()
	return s
}

func (s *scripted) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, _ := io.ReadAll(req.Body)
		if req.Method != http.MethodPost || req.URL.Path != "/v1/events" || req.Header.Get("Content-Type") != "application/json" ||
			req.Header.Get("Authorization") != "Bearer k" || req.Host != s.ln.Addr().String() {
			s.bodies <- "bad request: " + req.Method + " " + req.URL.Path + " " + req.Host + " " + req.Header.Get("Authorization")
			return
		}
		s.bodies <- string(body)
		i := int(s.next.Add(1)) - 1
		if i >= len(s.answers) {
			return
		}
		if _, err := io.WriteString(c, s.answers[i]); err != nil {
			return
		}
		a := strings.ToLower(s.answers[i])
		if strings.HasPrefix(a, "http/1.0") || strings.Contains(a, "connection: close") ||
			!strings.Contains(a, "content-length") && !strings.Contains(a, "chunked") && !strings.HasPrefix(a, "http/1.1 204") {
			return
		}
	}
}

func TestRawConnAnswers(t *testing.T) {
	s := newScripted(t,
		"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\ncontent-length: 5\r\nX-Extra: a:b\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: x\r\n\r\n",
		"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
		"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 202 Accepted\r\n\r\nto the end",
		"garbage\r\n\r\n",
	)
	r, err := newRawConn("http://"+s.ln.Addr().String()+"/v1/events", "k", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	for i, want := range []struct {
		status int
		body   string
		conns  int32
	}{
		{202, "hello", 1},
		{200, "abc0123456789abcdef", 1}, // the same connection
		{429, "{}", 1},                  // then closed: Connection: close
		{503, "", 2},                    // HTTP/1.0: closed after
		{204, "", 3},                    // no body, no length: nothing to wait for
		{202, "to the end", 3},          // no length: the body runs to EOF (same connection as the 204)
	} {
		body := "body-" + strconv.Itoa(i)
		status, got, err := r.post([]byte(body), time.Time{})
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if status != want.status || string(got) != want.body {
			t.Fatalf("answer %d: %d %q, want %d %q", i, status, got, want.status, want.body)
		}
		if sent := <-s.bodies; sent != body {
			t.Fatalf("answer %d: server read %q, want %q", i, sent, body)
		}
		if n := s.conns.Load(); n != want.conns {
			t.Fatalf("answer %d: %d connections, want %d", i, n, want.conns)
		}
	}
	if status, _, err := r.post([]byte("x"), time.Time{}); err == nil {
		t.Fatalf("a malformed status line gave %d, no error", status)
	}
	<-s.bodies
	// The next request after a failure dials again; the script is over, so
	// the server hangs up and the client reports it.
	if _, _, err := r.post([]byte("y"), time.Time{}); err == nil {
		t.Fatal("no answer, no error")
	}
	if n := s.conns.Load(); n != 5 {
		t.Fatalf("%d connections after a failure, want a new one (5)", n)
	}
}

func TestRawConnRefusesHTTPS(t *testing.T) {
	if _, err := newRawConn("https://127.0.0.1:1/v1/events", "", time.Second); err == nil {
		t.Fatal("https taken by the raw client")
	}
}

func TestRawConnTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(io.Discard, c) // reads, never answers
			}()
		}
	}()
	// The connection's own timeout, then a deadline that comes first.
	for _, c := range []struct {
		timeout  time.Duration
		deadline time.Time
	}{{100 * time.Millisecond, time.Time{}}, {time.Hour, time.Now().Add(200 * time.Millisecond)}} {
		r, err := newRawConn("http://"+ln.Addr().String()+"/v1/events", "", c.timeout)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, _, err := r.post([]byte("{}"), c.deadline); err == nil {
			t.Fatal("a silent server gave no error")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("timed out after %v, want well under a second", d)
		}
	}
}

// The pool hands out the connection that went idle last, and dials anew
// for one that sat idle longer than maxIdle.
func TestRawPoolTakesLastIdle(t *testing.T) {
	s := newScripted(t,
		"HTTP/1.1 202 Accepted\r\nContent-Length: 1\r\n\r\na",
		"HTTP/1.1 202 Accepted\r\nContent-Length: 1\r\n\r\nb",
		"HTTP/1.1 202 Accepted\r\nContent-Length: 1\r\n\r\nc",
		"HTTP/1.1 202 Accepted\r\nContent-Length: 1\r\n\r\nd",
		"HTTP/1.1 202 Accepted\r\nContent-Length: 1\r\n\r\ne",
	)
	p, err := newRawPool("http://"+s.ln.Addr().String()+"/v1/events", "k", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	clock := time.Unix(1_800_000_000, 0)
	p.now = func() time.Time { return clock }
	post := func(rc *rawConn) {
		t.Helper()
		if status, _, err := rc.post([]byte("{}"), time.Time{}); err != nil || status != 202 {
			t.Fatalf("post: %d, %v", status, err)
		}
		<-s.bodies
	}
	a, b := p.get(), p.get() // two in flight at once: two connections
	if a == b {
		t.Fatal("one connection handed out twice")
	}
	post(a)
	post(b)
	p.put(a)
	p.put(b)
	if got := p.get(); got != b {
		t.Fatal("the pool did not hand out the connection that went idle last")
	}
	post(b) // reused: no new connection
	if n := s.conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
	p.put(b)
	clock = clock.Add(maxIdle + time.Second)
	stale := p.get()
	post(stale) // idle too long: dialed anew
	if n := s.conns.Load(); n != 3 {
		t.Fatalf("%d connections after a stale one was taken, want 3", n)
	}
	if n := p.opened(); n != 2 {
		t.Fatalf("opened %d, want 2 (a redial is the same pooled sender)", n)
	}
}

// At a fixed rate the in-flight limit is 1,024 senders, but a server that
// keeps up must see only the connections in flight at once, not one per
// sender.
func TestOpenLoopOpensOnlyWhatIsInFlight(t *testing.T) {
	s := &stub{seen: map[string]bool{}}
	srv := httptest.NewUnstartedServer(s)
	var conns atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	res, err := Run(context.Background(), Config{Target: srv.URL, Rate: 200, Duration: 500 * time.Millisecond, Gen: GenOptions{Seed: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests < 90 || res.Status["202"] != int(res.Requests) {
		t.Fatalf("%d requests, statuses %v", res.Requests, res.Status)
	}
	// 200 req/s against an instant server: one or two in flight at once,
	// more only while the test's process stalls (every 5 ms of stall adds
	// one); a connection per sender would be one per request (about 100).
	if res.Connections > 50 || int(conns.Load()) != res.Connections {
		t.Fatalf("%d connections opened (server saw %d) for %d requests", res.Connections, conns.Load(), res.Requests)
	}
}
