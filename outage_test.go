package mongostore

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The tests in this file put a TCP proxy between a client and the test
// server, so that they can take the server away, give it back and freeze
// it while the store is in use, without touching the server itself.

// proxyMode is what the proxy does with traffic.
type proxyMode int

const (
	// proxyUp forwards bytes both ways.
	proxyUp proxyMode = iota
	// proxyDown closes every open connection and accepts new ones only to
	// close them at once: the port stays taken, as when a server process
	// dies behind a load balancer, but nothing answers.
	proxyDown
	// proxyStalled keeps connections open but forwards nothing, as a
	// server wedged on a lock or a network dropping packets would. Bytes
	// read meanwhile are held and sent once the proxy is up again.
	proxyStalled
)

// outageProxy forwards a loopback port to the test server.
type outageProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu     sync.Mutex
	cond   *sync.Cond // signalled when mode or closed changes
	mode   proxyMode
	closed bool
	conns  map[net.Conn]struct{} // both sides of every forwarded link
}

// newOutageProxy starts an up proxy to the server of testURI. Cleanup
// stops it and waits for all its goroutines.
func newOutageProxy(t *testing.T) *outageProxy {
	t.Helper()
	if testDB == nil {
		t.Skip("no server: " + noServerWhy)
	}
	u, err := url.Parse(testURI)
	if err != nil {
		t.Fatalf("parse %q: %v", testURI, err)
	}
	// One host only: a proxy in front of one member of a replica set
	// would not show the outage the tests mean.
	if u.Scheme != "mongodb" || u.Host == "" ||
		strings.Contains(u.Host, ",") {
		t.Skipf("the outage tests need a mongodb://host:port URI, "+
			"not %q", testURI)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &outageProxy{ln: ln, target: u.Host,
		conns: map[net.Conn]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.acceptLoop()
	t.Cleanup(p.close)
	return p
}

func (p *outageProxy) addr() string { return p.ln.Addr().String() }

// set switches the proxy's mode. Going down cuts every open connection.
func (p *outageProxy) set(mode proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = mode
	if mode == proxyDown {
		p.closeAllLocked()
	}
	p.cond.Broadcast()
}

// close stops the proxy and returns once none of its goroutines runs.
func (p *outageProxy) close() {
	p.mu.Lock()
	p.closed = true
	p.closeAllLocked()
	p.cond.Broadcast()
	p.mu.Unlock()
	_ = p.ln.Close()
	p.wg.Wait()
}

func (p *outageProxy) closeAllLocked() {
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

// track registers c as open, or closes it if the proxy is down or closed.
func (p *outageProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.mode == proxyDown {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *outageProxy) drop(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *outageProxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // the listener is closed
		}
		if !p.track(c) {
			continue
		}
		// Add happens here, in a goroutine the group already counts, so
		// it never races with the Wait in close.
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve links client to a new connection to the server until either side
// ends or the proxy cuts them.
func (p *outageProxy) serve(client net.Conn) {
	defer p.wg.Done()
	server, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		p.drop(client)
		return
	}
	if !p.track(server) {
		p.drop(client)
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.pipe(server, client)
	}()
	p.pipe(client, server)
}

// pipe copies src to dst while the proxy lets it, and cuts both when it
// stops, so that the other direction stops too.
func (p *outageProxy) pipe(dst, src net.Conn) {
	defer p.drop(dst)
	defer p.drop(src)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.mayForward() {
				return
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// mayForward waits out a stall and tells whether bytes may still flow.
func (p *outageProxy) mayForward() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.mode == proxyStalled && !p.closed {
		p.cond.Wait()
	}
	return p.mode == proxyUp && !p.closed
}

// proxiedClient connects a client of its own through p, with timeouts
// short enough that an outage shows within a test. It is disconnected at
// the end of the test, with the proxy cut first so that a stall cannot
// hold up the goodbye.
func proxiedClient(t *testing.T, p *outageProxy,
	selection time.Duration) *mongo.Client {
	t.Helper()
	client, err := mongo.Connect(options.Client().
		ApplyURI("mongodb://" + p.addr() + "/?directConnection=true").
		SetServerSelectionTimeout(selection).
		SetConnectTimeout(500 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.set(proxyDown)
		ctx, cancel := context.WithTimeout(context.Background(),
			5*time.Second)
		defer cancel()
		_ = client.Disconnect(ctx)
	})
	return client
}

// warmUp pings through client with time to spare, so that the
// connection the tests' short timeouts then rely on is already made.
func warmUp(t *testing.T, client *mongo.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Ping(ctx, nil); err != nil {
		t.Fatalf("ping through the proxy: %v", err)
	}
}

// proxiedCollection returns coll as seen by client.
func proxiedCollection(client *mongo.Client,
	coll *mongo.Collection) *mongo.Collection {
	return client.Database(coll.Database().Name()).Collection(coll.Name())
}

// sweepers counts the sweeper goroutines alive in the test binary. Tests
// compare counts rather than look for none, as a store another test left
// open may sweep meanwhile.
func sweepers() int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	for n == len(buf) && len(buf) < 64<<20 {
		buf = make([]byte, 2*len(buf))
		n = runtime.Stack(buf, true)
	}
	return strings.Count(string(buf[:n]), "sweepLoop")
}

// assertOutage checks what a load or save reports while the server cannot
// be reached: an error of the package, which does not read as a missing
// session, nor as one gone for good.
func assertOutage(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("no error while the server is unreachable")
	}
	if !strings.HasPrefix(err.Error(), "mongostore: ") {
		t.Errorf("err = %q, want the package prefix", err)
	}
	if errors.Is(err, mongo.ErrNoDocuments) {
		t.Errorf("err = %v reads as not found", err)
	}
	if errors.Is(err, ErrSessionGone) {
		t.Errorf("err = %v reads as a session gone for good", err)
	}
}

// assertNewSession checks that a failed load hands back an empty session
// rather than nil or a half-loaded one.
func assertNewSession(t *testing.T, session *sessions.Session) {
	t.Helper()
	if session == nil {
		t.Fatal("nil session")
	}
	if !session.IsNew || session.ID != "" || len(session.Values) != 0 {
		t.Errorf("got IsNew %v, ID %q, values %v; want a new session",
			session.IsNew, session.ID, session.Values)
	}
}

// assertDeadline checks that a call cut short by a context says so.
func assertDeadline(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("no error from a stalled server")
	}
	if !errors.Is(err, context.DeadlineExceeded) && !mongo.IsTimeout(err) {
		t.Errorf("err = %v, want a deadline or timeout", err)
	}
}

// returnsWithin runs f and waits for it at most bound, so that a call that
// hangs fails the test at once rather than at the go test timeout. A call
// left running is freed when the cleanup cuts the proxy; f must not use t.
func returnsWithin(t *testing.T, bound time.Duration, what string,
	f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(bound):
		t.Fatalf("%s did not return within %v", what, bound)
	}
}

// untilRecovered retries try until it succeeds or recoveryWait passes, as
// the driver must first notice that the server is back, and returns the
// last error.
const recoveryWait = 10 * time.Second

func untilRecovered(try func() error) error {
	deadline := time.Now().Add(recoveryWait)
	for {
		err := try()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestUnreachableServerAtConstructionThenBack(t *testing.T) {
	coll := newCollection(t)
	p := newOutageProxy(t)
	pcoll := proxiedCollection(proxiedClient(t, p, 500*time.Millisecond),
		coll)
	// Sweeping is the mode that starts a goroutine, so it is the one
	// that could leave one behind when New fails.
	opts := []Option{WithTimeout(time.Second), WithExpiry(ExpirySweep)}

	before := sweepers()
	p.set(proxyDown)
	var s *MongoStore
	var err error
	// Generous: this catches New waiting for the driver's 30 s selection
	// default or hanging, not a slow machine.
	returnsWithin(t, 6*time.Second, "New with a timeout of 1s", func() {
		s, err = New(context.Background(), pcoll, testKeys, opts...)
	})
	if err == nil {
		if s != nil {
			_ = s.Close()
		}
		t.Fatal("New succeeded with the server down")
	}
	if !strings.HasPrefix(err.Error(), "mongostore: ") {
		t.Errorf("err = %q, want the package prefix", err)
	}
	if s != nil {
		t.Error("a store was returned with the error")
	}
	if n := sweepers(); n > before {
		t.Errorf("%d sweeper goroutines after the failed New, %d before",
			n, before)
	}

	// The client is the caller's and outlives the failure: once the
	// server is back the same client serves a new store.
	p.set(proxyUp)
	err = untilRecovered(func() error {
		var err error
		s, err = New(context.Background(), pcoll, testKeys, opts...)
		if err != nil && s != nil {
			t.Fatalf("New returned a store with the error %v", err)
		}
		return err
	})
	if err != nil {
		t.Fatalf("New with the server back, after %v: %v",
			recoveryWait, err)
	}
	t.Cleanup(func() { _ = s.Close() })

	c := startSession(t, s, "sid", map[any]any{"user": "ada"})
	session, err := load(t, s, "sid", c)
	if err != nil || session.IsNew || session.Values["user"] != "ada" {
		t.Fatalf("load: IsNew %v, values %v, err %v", session.IsNew,
			session.Values, err)
	}
	if doc := findDoc(t, coll, session.ID); doc == nil {
		t.Error("the session is not in the server's collection")
	}
}

func TestServerGoneMidFlightThenBack(t *testing.T) {
	coll := newCollection(t)
	p := newOutageProxy(t)
	client := proxiedClient(t, p, 500*time.Millisecond)
	warmUp(t, client)
	s := newStore(t, proxiedCollection(client, coll),
		WithTimeout(time.Second))

	c := startSession(t, s, "sid", map[any]any{"user": "ada", "n": 1})
	held, err := load(t, s, "sid", c)
	if err != nil || held.IsNew {
		t.Fatalf("load: IsNew %v, err %v", held.IsNew, err)
	}
	id := held.ID
	stored := findDoc(t, coll, id)
	if stored == nil {
		t.Fatal("no document")
	}

	p.set(proxyDown)

	t.Run("load fails loudly", func(t *testing.T) {
		var session *sessions.Session
		var err error
		returnsWithin(t, 6*time.Second, "load with a timeout of 1s",
			func() { session, err = s.New(request(c), "sid") })
		assertNewSession(t, session)
		assertOutage(t, err)
	})

	t.Run("save fails and writes nothing", func(t *testing.T) {
		held.Values["n"] = 2
		cookie, err := save(t, s, held)
		assertOutage(t, err)
		// Clearing the cookie would log the user out over an outage.
		if cookie != nil {
			t.Errorf("cookie %v set by a failed save", cookie)
		}
		if held.ID != id {
			t.Errorf("session ID changed from %q to %q", id, held.ID)
		}
		// Read straight from the server, not through the proxy.
		doc := findDoc(t, coll, id)
		if doc == nil {
			t.Fatal("the document is gone")
		}
		if !bytes.Equal(doc.Data, stored.Data) ||
			!doc.Expires.Equal(stored.Expires) ||
			!doc.Modified.Equal(stored.Modified) {
			t.Errorf("document changed during the outage: %+v, was %+v",
				doc, stored)
		}

		fresh, _ := load(t, s, "sid")
		fresh.Values["user"] = "bob"
		cookie, err = save(t, s, fresh)
		assertOutage(t, err)
		if cookie != nil || fresh.ID != "" {
			t.Errorf("failed insert set cookie %v, ID %q", cookie,
				fresh.ID)
		}
		if n := countDocs(t, coll); n != 1 {
			t.Errorf("%d documents, want only the first session", n)
		}
	})

	// The same store, with no restart, picks up where it left off.
	p.set(proxyUp)
	var session *sessions.Session
	err = untilRecovered(func() error {
		var err error
		session, err = s.New(request(c), "sid")
		return err
	})
	if err != nil {
		t.Fatalf("load with the server back, after %v: %v",
			recoveryWait, err)
	}
	if session.IsNew || session.ID != id || session.Values["user"] != "ada" ||
		session.Values["n"] != 1 {
		t.Fatalf("after the outage: IsNew %v, ID %q, values %v; want the "+
			"stored session unchanged", session.IsNew, session.ID,
			session.Values)
	}
	session.Values["n"] = 3
	mustSave(t, s, session)
	again, err := load(t, s, "sid", c)
	if err != nil || again.Values["n"] != 3 {
		t.Errorf("after saving again: values %v, err %v", again.Values,
			err)
	}
	if doc := findDoc(t, coll, id); doc == nil ||
		bytes.Equal(doc.Data, stored.Data) {
		t.Errorf("the save after the outage did not reach the server")
	}
}

func TestStalledServerHonoursDeadline(t *testing.T) {
	coll := newCollection(t)
	p := newOutageProxy(t)
	// A selection timeout far above the bounds below: only the contexts
	// under test may end the calls in time, whatever the driver's monitor
	// makes of the stall.
	// Each store has a client of its own, so that the connection the
	// first call leaves stuck cannot make the second wait for the pool.
	// With expiry disabled New sends nothing, which spares it from
	// making the index within 300ms.
	store := func(timeout time.Duration) *MongoStore {
		client := proxiedClient(t, p, 20*time.Second)
		warmUp(t, client)
		return newStore(t, proxiedCollection(client, coll),
			WithTimeout(timeout), WithExpiry(ExpiryDisabled))
	}
	short, long := store(300*time.Millisecond), store(10*time.Second)
	c := startSession(t, long, "sid", map[any]any{"user": "ada"})
	// Both stores load once while up, so each call below finds a pooled
	// connection and stalls on the wire rather than while connecting.
	for _, s := range []*MongoStore{short, long} {
		if session, err := load(t, s, "sid", c); err != nil ||
			session.IsNew {
			t.Fatalf("load before the stall: IsNew %v, err %v",
				session.IsNew, err)
		}
	}

	p.set(proxyStalled)

	t.Run("store timeout", func(t *testing.T) {
		var session *sessions.Session
		var err error
		returnsWithin(t, 3*time.Second,
			"load with a store timeout of 300ms",
			func() { session, err = short.New(request(c), "sid") })
		assertNewSession(t, session)
		assertOutage(t, err)
		assertDeadline(t, err)
	})

	t.Run("request deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(),
			200*time.Millisecond)
		defer cancel()
		r := request(c).WithContext(ctx)
		var session *sessions.Session
		var err error
		returnsWithin(t, 3*time.Second,
			"load with a request deadline of 200ms (store timeout 10s)",
			func() { session, err = long.New(r, "sid") })
		assertNewSession(t, session)
		assertOutage(t, err)
		assertDeadline(t, err)
	})
}
