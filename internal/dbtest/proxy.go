package dbtest

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy forwards TCP connections from a loopback port to a database, and
// can take the database away as a network would: by refusing connections,
// or by black-holing them (accepting, then neither forwarding nor
// answering, with no reset), and give it back, on the same port.
type Proxy struct {
	tb     testing.TB
	target string
	// Addr is the proxy's address, to put in a database URL instead of the
	// database's.
	Addr string

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	frozen bool // black-holing: nothing is forwarded
	wg     sync.WaitGroup
}

// StartProxy starts a proxy to target (host:port) on a free loopback port;
// it is stopped when the test ends.
func StartProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	p := &Proxy{tb: tb, target: target, Addr: "127.0.0.1:0", conns: map[net.Conn]bool{}}
	p.listen()
	tb.Cleanup(func() {
		p.Refuse()
		p.wg.Wait()
	})
	return p
}

// Forward forwards connections again, on the same port. Connections that
// were black-holed are closed, as their peers would by now have given up
// on them.
func (p *Proxy) Forward() {
	p.tb.Helper()
	p.mu.Lock()
	wasFrozen, listening := p.frozen, p.ln != nil
	p.frozen = false
	if wasFrozen {
		p.closeConnsLocked()
	}
	p.mu.Unlock()
	if !listening {
		p.listen()
	}
}

// Refuse closes the listener and every connection: new connections are
// refused at once, like a database that is down.
func (p *Proxy) Refuse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	p.closeConnsLocked()
}

// BlackHole stops forwarding in both directions, on open connections and
// on the new ones it keeps accepting: nothing answers, nothing is reset.
func (p *Proxy) BlackHole() {
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
}

func (p *Proxy) closeConnsLocked() {
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

func (p *Proxy) listen() {
	p.tb.Helper()
	var ln net.Listener
	var err error
	// The port was the proxy's a moment ago; the kernel may take a moment
	// to let it go.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ln, err = net.Listen("tcp", p.Addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		p.tb.Fatalf("dbtest: proxy: listen on %s: %v", p.Addr, err)
	}
	p.mu.Lock()
	p.ln, p.Addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serve(c)
			}()
		}
	}()
}

// track remembers a connection so that Refuse and Forward can close it.
func (p *Proxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns[c] = true
	p.mu.Unlock()
}

func (p *Proxy) serve(client net.Conn) {
	p.track(client)
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		client.Close()
		return
	}
	p.track(server)
	done := make(chan struct{}, 2)
	go func() { p.pipe(server, client); done <- struct{}{} }()
	go func() { p.pipe(client, server); done <- struct{}{} }()
	<-done
	client.Close()
	server.Close()
	<-done
}

// pipe copies src to dst, dropping what it reads while the proxy is
// black-holing.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			frozen := p.frozen
			p.mu.Unlock()
			if !frozen {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}
