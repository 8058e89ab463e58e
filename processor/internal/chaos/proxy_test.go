//go:build chaos

package chaos

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// proxy is a TCP proxy the suite puts between a service and one of its
// dependencies, so it can break the network between them without root:
//   - partition: every byte in both directions is held (new connections are
//     accepted but nothing crosses), the way a dropped route looks to both
//     ends — nobody gets a reset, calls time out; heal lets the held bytes
//     through, like TCP retransmitting after the route comes back;
//   - slow: every request waits d — for Kafka each request frame, for
//     plain TCP the first chunk after a quiet moment — so each ClickHouse
//     insert or query costs d more.
//
// A Kafka proxy also rewrites the broker addresses in Metadata and
// FindCoordinator answers to proxy addresses (kafkaRewrite), or clients
// would follow the advertised listeners straight past it.
type proxy struct {
	ln      net.Listener
	target  string
	rewrite func(apiKey, version int16, body []byte) []byte // nil: plain TCP

	mu      sync.Mutex
	cut     bool
	healed  chan struct{} // closed when the partition heals
	delay   time.Duration
	conns   map[net.Conn]struct{}
	closing bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, healed: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	close(p.healed)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) partition() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.cut {
		p.cut = true
		p.healed = make(chan struct{})
	}
}

func (p *proxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		p.cut = false
		close(p.healed)
	}
}

func (p *proxy) slow(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// gate blocks while the proxy is partitioned and returns the current delay.
func (p *proxy) gate() time.Duration {
	p.mu.Lock()
	ch, d := p.healed, p.delay
	p.mu.Unlock()
	<-ch
	return d
}

func (p *proxy) close() {
	p.mu.Lock()
	p.closing = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.heal()
	p.ln.Close()
}

func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *proxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(client)
	}
}

func (p *proxy) handle(client net.Conn) {
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	p.gate() // a partition holds new connections too
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return // the dependency is down: the client sees its connection close
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	done := make(chan struct{}, 2)
	if p.rewrite == nil {
		go func() { p.pipe(server, client, true); done <- struct{}{} }()
		go func() { p.pipe(client, server, false); done <- struct{}{} }()
	} else {
		k := &kafkaConn{p: p, inflight: map[int32][2]int16{}}
		go func() { k.requests(server, client); done <- struct{}{} }()
		go func() { k.responses(client, server); done <- struct{}{} }()
	}
	<-done // either side ending ends both (the deferred closes)
}

// pipe copies src to dst chunk by chunk through the gate; requests (client
// to server) pay the delay on the first chunk after a quiet moment.
func (p *proxy) pipe(dst io.Writer, src io.Reader, requests bool) {
	buf := make([]byte, 64<<10)
	last := time.Time{}
	for {
		n, err := src.Read(buf)
		if n > 0 {
			d := p.gate()
			if requests && d > 0 && time.Since(last) > 20*time.Millisecond {
				time.Sleep(d)
				p.gate()
			}
			last = time.Now()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// kafkaConn forwards one Kafka connection frame by frame, remembering each
// request's API key and version by correlation id so it can decode the
// answers it must rewrite.
type kafkaConn struct {
	p        *proxy
	mu       sync.Mutex
	inflight map[int32][2]int16
}

func readFrame(r *bufio.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > 256<<20 {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	b := make([]byte, 4+n)
	copy(b, size[:])
	_, err := io.ReadFull(r, b[4:])
	return b, err
}

func (k *kafkaConn) requests(dst io.Writer, src io.Reader) {
	r := bufio.NewReaderSize(src, 64<<10)
	for {
		f, err := readFrame(r)
		if err != nil || len(f) < 12 {
			return
		}
		key := int16(binary.BigEndian.Uint16(f[4:]))
		ver := int16(binary.BigEndian.Uint16(f[6:]))
		corr := int32(binary.BigEndian.Uint32(f[8:]))
		k.mu.Lock()
		k.inflight[corr] = [2]int16{key, ver}
		k.mu.Unlock()
		if d := k.p.gate(); d > 0 {
			time.Sleep(d)
			k.p.gate()
		}
		if _, err := dst.Write(f); err != nil {
			return
		}
	}
}

func (k *kafkaConn) responses(dst io.Writer, src io.Reader) {
	r := bufio.NewReaderSize(src, 64<<10)
	for {
		f, err := readFrame(r)
		if err != nil || len(f) < 8 {
			return
		}
		corr := int32(binary.BigEndian.Uint32(f[4:]))
		k.mu.Lock()
		req, ok := k.inflight[corr]
		delete(k.inflight, corr)
		k.mu.Unlock()
		if ok {
			f = k.rewriteFrame(f, req[0], req[1])
		}
		k.p.gate()
		if _, err := dst.Write(f); err != nil {
			return
		}
	}
}

// rewriteFrame decodes a Metadata or FindCoordinator answer, points its
// brokers at their proxies and encodes it again; other frames pass as they
// are.
func (k *kafkaConn) rewriteFrame(f []byte, key, ver int16) []byte {
	if key != 3 && key != 10 {
		return f
	}
	req := kmsg.RequestForKey(key)
	req.SetVersion(ver)
	hdr := 8 // size + correlation id
	if req.IsFlexible() {
		// Response header v1: tagged fields (normally none: one zero byte).
		tags, n := binary.Uvarint(f[hdr:])
		if n <= 0 || tags != 0 {
			return f
		}
		hdr += n
	}
	body := k.p.rewrite(key, ver, f[hdr:])
	if body == nil {
		return f
	}
	out := make([]byte, 0, hdr+len(body))
	out = append(out, f[:hdr]...)
	out = append(out, body...)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
}

// kafkaProxies starts one proxy per broker and makes each rewrite every
// broker address it hands out to the matching proxy.
func kafkaProxies(t *testing.T, brokers []string) []*proxy {
	t.Helper()
	ps := make([]*proxy, len(brokers))
	byAddr := map[string]string{}
	for i, b := range brokers {
		ps[i] = newProxy(t, b)
		byAddr[b] = ps[i].addr()
	}
	mapHost := func(host *string, port *int32) {
		to, ok := byAddr[net.JoinHostPort(*host, strconv.Itoa(int(*port)))]
		if !ok {
			return
		}
		h, ps, _ := net.SplitHostPort(to)
		n, _ := strconv.Atoi(ps)
		*host, *port = h, int32(n)
	}
	rewrite := func(key, ver int16, body []byte) []byte {
		switch key {
		case 3:
			resp := kmsg.NewPtrMetadataResponse()
			resp.SetVersion(ver)
			if err := resp.ReadFrom(body); err != nil {
				return nil
			}
			for i := range resp.Brokers {
				mapHost(&resp.Brokers[i].Host, &resp.Brokers[i].Port)
			}
			return resp.AppendTo(nil)
		case 10:
			resp := kmsg.NewPtrFindCoordinatorResponse()
			resp.SetVersion(ver)
			if err := resp.ReadFrom(body); err != nil {
				return nil
			}
			mapHost(&resp.Host, &resp.Port)
			for i := range resp.Coordinators {
				mapHost(&resp.Coordinators[i].Host, &resp.Coordinators[i].Port)
			}
			return resp.AppendTo(nil)
		}
		return nil
	}
	for _, p := range ps {
		p.rewrite = rewrite
	}
	return ps
}
