package mongostore

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// serverHasTTL asks the server directly whether it builds TTL indexes, so
// that the tests know which mode the store must pick.
func serverHasTTL(t *testing.T) bool {
	t.Helper()
	coll := testDB.Collection("ttl_probe")
	defer coll.Drop(context.Background())
	_, err := coll.Indexes().CreateOne(context.Background(),
		mongo.IndexModel{Keys: bson.D{{Key: "at", Value: 1}},
			Options: options.Index().SetExpireAfterSeconds(0)})
	if err != nil && !ttlUnsupported(err) {
		t.Fatalf("TTL probe: %v", err)
	}
	return err == nil
}

// logRecorder is a slog handler that keeps what it is given.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	return nil
}

func (l *logRecorder) messages() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var msgs []string
	for _, r := range l.records {
		msgs = append(msgs, r.Message)
	}
	return msgs
}

func expiresIndexSpec(t *testing.T,
	coll *mongo.Collection) *mongo.IndexSpecification {
	t.Helper()
	specs, err := coll.Indexes().ListSpecifications(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range specs {
		if spec.Name == expiresIndex {
			return &spec
		}
	}
	return nil
}

func TestExpiresIndexMatchesTheServer(t *testing.T) {
	coll := newCollection(t)
	native := serverHasTTL(t)
	logs := &logRecorder{}

	// Twice: the second build must accept the index the first one made.
	for range 2 {
		s := newStore(t, coll, WithLogger(slog.New(logs)))
		if native && s.Expiry() != ExpiryNative ||
			!native && s.Expiry() != ExpirySweep {
			t.Fatalf("server TTL support %v, store expiry %v",
				native, s.Expiry())
		}
	}

	spec := expiresIndexSpec(t, coll)
	if spec == nil {
		t.Fatal("no expires index")
	}
	if want := `{"expires": {"$numberInt":"1"}}`; spec.KeysDocument.String() !=
		want {
		t.Errorf("index keys %s, want %s", spec.KeysDocument, want)
	}
	switch {
	case native:
		if spec.ExpireAfterSeconds == nil || *spec.ExpireAfterSeconds != 0 {
			t.Errorf("expireAfterSeconds = %v, want 0",
				spec.ExpireAfterSeconds)
		}
		if msgs := logs.messages(); len(msgs) != 0 {
			t.Errorf("logged %q on a server with TTL indexes", msgs)
		}
	default:
		if spec.ExpireAfterSeconds != nil {
			t.Errorf("sweep index has expireAfterSeconds %d",
				*spec.ExpireAfterSeconds)
		}
		msgs := logs.messages()
		if len(msgs) != 2 || !strings.Contains(msgs[0], "TTL") {
			t.Errorf("logged %q, want the fallback once per store", msgs)
		}
	}
}

func TestNormalRequestsLogNothing(t *testing.T) {
	coll := newCollection(t)
	logs := &logRecorder{}
	s := newStore(t, coll, WithLogger(slog.New(logs)))
	atStart := len(logs.messages())

	c := startSession(t, s, "sid", map[any]any{"n": 1})
	session, _ := load(t, s, "sid", c)
	session.Values["n"] = 2
	mustSave(t, s, session)
	session.Options.MaxAge = -1
	mustSave(t, s, session)

	if msgs := logs.messages()[atStart:]; len(msgs) != 0 {
		t.Errorf("requests logged %q", msgs)
	}
}

func TestConflictingExpiresIndexFailsConstruction(t *testing.T) {
	coll := newCollection(t)
	_, err := coll.Indexes().CreateOne(context.Background(), mongo.IndexModel{
		Keys:    bson.D{{Key: "expires", Value: 1}},
		Options: options.Index().SetName(expiresIndex).SetUnique(true),
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, expiry := range []Expiry{ExpiryNative, ExpirySweep} {
		s, err := New(context.Background(), coll, testKeys,
			WithExpiry(expiry))
		if err == nil {
			s.Close()
			t.Errorf("%v: New accepted a conflicting index", expiry)
			continue
		}
		if !strings.Contains(err.Error(), "drop it") {
			t.Errorf("%v: error %q does not name the fix", expiry, err)
		}
		var se mongo.ServerError
		if !errors.As(err, &se) && !errors.Is(err, errIndexMismatch) {
			t.Errorf("%v: error %v wraps neither the server's answer"+
				" nor the mismatch found", expiry, err)
		}
	}
}

func TestDisabledExpiryMakesNoIndexAndNoSweeper(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithExpiry(ExpiryDisabled))
	startSession(t, s, "sid", map[any]any{"n": 1})
	if spec := expiresIndexSpec(t, coll); spec != nil {
		t.Errorf("index %+v made with expiry disabled", spec)
	}
	if s.sweeper != nil {
		t.Error("sweeper running with expiry disabled")
	}
}

// expire moves a stored session's expiry into the past.
func expire(t *testing.T, coll *mongo.Collection, id string) {
	t.Helper()
	_, err := coll.UpdateByID(context.Background(), id, bson.D{{
		Key: "$set", Value: bson.D{{Key: "expires",
			Value: time.Now().Add(-time.Minute)}}}})
	if err != nil {
		t.Fatal(err)
	}
}

// waitGone waits for a document to leave the collection.
func waitGone(t *testing.T, coll *mongo.Collection, id string,
	within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for findDoc(t, coll, id) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("document %s still stored after %v", id, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestSweeperDeletesExpiredSessionsOnly(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithExpiry(ExpirySweep),
		WithSweepInterval(50*time.Millisecond))
	live := idOf(t, s, startSession(t, s, "sid", map[any]any{"n": 1}))
	old := idOf(t, s, startSession(t, s, "sid", map[any]any{"n": 2}))
	expire(t, coll, old)

	waitGone(t, coll, old, 10*time.Second)
	if findDoc(t, coll, live) == nil {
		t.Error("the sweeper deleted a live session")
	}
}

// TestExpiredSessionIsReaped watches the default mode do its work: on
// MongoDB the server's TTL monitor (every second in the test container,
// every minute on a stock server), elsewhere the fallback sweeper.
func TestExpiredSessionIsReaped(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithSweepInterval(100*time.Millisecond))
	id := idOf(t, s, startSession(t, s, "sid", map[any]any{"n": 1}))
	expire(t, coll, id)
	waitGone(t, coll, id, 150*time.Second)
}

func TestCloseStopsSweeperAndKeepsClient(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithExpiry(ExpirySweep),
		WithSweepInterval(20*time.Millisecond))
	time.Sleep(100 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	testCommands.reset(coll.Name())
	time.Sleep(150 * time.Millisecond)
	if sent := testCommands.sent(coll.Name()); len(sent) != 0 {
		t.Errorf("commands after Close: %v", sent)
	}
	if err := coll.Database().Client().Ping(context.Background(),
		nil); err != nil {
		t.Errorf("client unusable after Close: %v", err)
	}
	c := startSession(t, s, "sid", map[any]any{"n": 1})
	if session, err := load(t, s, "sid", c); err != nil || session.IsNew {
		t.Errorf("store unusable after Close: %v", err)
	}
}

func TestFailedSweepsGoToTheLogger(t *testing.T) {
	coll := newCollection(t)
	client, err := mongo.Connect(options.Client().
		ApplyURI(testURI).
		SetServerSelectionTimeout(200 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logRecorder{}
	s := newStore(t, client.Database(coll.Database().Name()).
		Collection(coll.Name()), WithExpiry(ExpirySweep),
		WithSweepInterval(20*time.Millisecond),
		WithLogger(slog.New(logs)))
	if err := client.Disconnect(context.Background()); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(5 * time.Second)
	for len(logs.messages()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	s.Close()
	msgs := logs.messages()
	if len(msgs) == 0 || !strings.Contains(msgs[0], "sweep failed") {
		t.Errorf("logged %q, want the failed sweep", msgs)
	}
}
