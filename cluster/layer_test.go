package cluster

import (
	"errors"
	"net"
	"testing"
	"time"
)

// cutAll closes the connections Raft holds, and a cut layer refuses new
// ones without handing Raft an error until its listener closes.
func TestCutLayerClosesAndRefusesQuietly(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4444}
	ln := newChanListener(addr)
	layer := newRaftLayer(ln, TLSConfig{}, addr)

	held, peer := net.Pipe()
	go ln.deliver(held)
	if _, err := layer.Accept(); err != nil {
		t.Fatalf("accept before the cut: %v", err)
	}
	layer.cutAll()
	if err := readFails(peer); err == nil {
		t.Fatal("a connection Raft held stayed open after cutAll")
	}

	accepted := make(chan error, 1)
	go func() {
		_, err := layer.Accept()
		accepted <- err
	}()
	late, latePeer := net.Pipe()
	if !ln.deliver(late) {
		t.Fatal("the listener refused a delivery before it closed")
	}
	if err := readFails(latePeer); err == nil {
		t.Fatal("a connection arriving after the cut was not closed")
	}
	select {
	case err := <-accepted:
		t.Fatalf("Accept returned %v after a refused connection; want it to keep waiting", err)
	case <-time.After(50 * time.Millisecond):
	}
	ln.Close()
	select {
	case err := <-accepted:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return after the listener closed")
	}
}

// readFails reads from one end of a pipe: the error once the other end is
// closed, nil if data came or nothing happened within 5 s.
func readFails(c net.Conn) error {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return nil
	}
	return err
}
