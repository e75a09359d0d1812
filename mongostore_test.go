package mongostore

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The integration tests run against MONGODB_URI if it is set, else against
// a mongo container where a Docker engine answers. Without either they
// skip, unless MONGOSTORE_REQUIRE_SERVER is set: then they fail, which is
// what make test and CI ask for.
const requireServerEnv = "MONGOSTORE_REQUIRE_SERVER"

var (
	testDB       *mongo.Database
	testURI      string
	noServerWhy  string
	testCommands = &commandLog{byColl: map[string][]string{},
		bodies: map[string][]bson.Raw{}}
)

var (
	testAuthKey = []byte("0123456789abcdef0123456789abcdef")
	testEncKey  = []byte("fedcba9876543210fedcba9876543210")
	testKeys    = [][]byte{testAuthKey, testEncKey}
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	uri, stop, why := serverURI()
	defer stop()
	if uri == "" {
		if os.Getenv(requireServerEnv) != "" {
			fmt.Fprintf(os.Stderr, "mongostore: %s is set but no server "+
				"could be reached: %s\n", requireServerEnv, why)
			return 1
		}
		noServerWhy = why
		fmt.Printf("mongostore: integration tests and examples skipped: "+
			"%s (set MONGODB_URI or start Docker)\n", why)
		// The examples run against a server and check their output;
		// without one they are skipped like the tests.
		if skip := flag.Lookup("test.skip"); skip.Value.String() == "" {
			_ = skip.Value.Set("^Example")
		}
		return m.Run()
	}
	// The examples find the server the way an app would.
	os.Setenv("MONGODB_URI", uri)

	testURI = uri
	client, err := mongo.Connect(options.Client().ApplyURI(uri).
		SetMonitor(testCommands.monitor()).
		SetServerSelectionTimeout(10 * time.Second))
	if err == nil {
		err = pingFor(client, time.Minute)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mongostore: cannot reach %s: %v\n", uri, err)
		return 1
	}
	defer client.Disconnect(context.Background())

	testDB = client.Database(fmt.Sprintf("mongostore_test_%d",
		time.Now().UnixNano()))
	defer testDB.Drop(context.Background())
	return m.Run()
}

// serverURI finds a server to test against and returns a function that
// tears down what it started, or why there is none.
func serverURI() (uri string, stop func(), why string) {
	stop = func() {}
	if uri := os.Getenv("MONGODB_URI"); uri != "" {
		return uri, stop, ""
	}
	pool, err := dockertest.NewPool("")
	if err == nil {
		err = pool.Client.Ping()
	}
	if err != nil {
		return "", stop, "MONGODB_URI is not set and no Docker engine " +
			"answers"
	}
	// A TTL monitor that wakes every second lets a test watch the server
	// reap an expired document.
	res, err := pool.RunWithOptions(&dockertest.RunOptions{
		Repository: "mongo",
		Tag:        "8",
		Cmd:        []string{"--setParameter", "ttlMonitorSleepSecs=1"},
	}, func(hc *docker.HostConfig) {
		hc.AutoRemove = true
		hc.RestartPolicy = docker.RestartPolicy{Name: "no"}
	})
	if err != nil {
		return "", stop, "cannot start the mongo container: " + err.Error()
	}
	_ = res.Expire(600)
	stop = func() { _ = pool.Purge(res) }
	uri = "mongodb://" + res.GetHostPort("27017/tcp") + "/?directConnection=true"
	return uri, stop, ""
}

func pingFor(client *mongo.Client, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := client.Ping(ctx, nil)
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// commandLog records the commands sent, by the collection they name.
type commandLog struct {
	mu     sync.Mutex
	byColl map[string][]string
	bodies map[string][]bson.Raw
}

func (l *commandLog) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			coll, ok := e.Command.Index(0).Value().StringValueOK()
			if !ok {
				return
			}
			body := append(bson.Raw(nil), e.Command...)
			l.mu.Lock()
			l.byColl[coll] = append(l.byColl[coll], e.CommandName)
			l.bodies[coll] = append(l.bodies[coll], body)
			l.mu.Unlock()
		},
	}
}

func (l *commandLog) reset(coll string) {
	l.mu.Lock()
	delete(l.byColl, coll)
	delete(l.bodies, coll)
	l.mu.Unlock()
}

// named returns the bodies of the commands of one name sent on coll.
func (l *commandLog) named(coll, name string) []bson.Raw {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []bson.Raw
	for i, n := range l.byColl[coll] {
		if n == name {
			out = append(out, l.bodies[coll][i])
		}
	}
	return out
}

func (l *commandLog) sent(coll string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.byColl[coll]...)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// newCollection gives the test a collection of its own, dropped at the end.
func newCollection(t *testing.T) *mongo.Collection {
	t.Helper()
	if testDB == nil {
		t.Skip("no server: " + noServerWhy)
	}
	name := unsafeName.ReplaceAllString(t.Name(), "_")
	if len(name) > 60 {
		name = name[len(name)-60:]
	}
	coll := testDB.Collection(name)
	ctx := context.Background()
	_ = coll.Drop(ctx)
	t.Cleanup(func() { _ = coll.Drop(context.Background()) })
	return coll
}

// newStore builds a store on coll and closes it at the end of the test.
// Commands sent while building it are forgotten, so that a test sees only
// those of the requests it makes.
func newStore(t *testing.T, coll *mongo.Collection,
	opts ...Option) *MongoStore {
	t.Helper()
	s, err := New(context.Background(), coll, testKeys, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	testCommands.reset(coll.Name())
	return s
}

// request returns a request carrying the given cookies, byte for byte as
// a hostile client could send them.
func request(cookies ...*http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://example.com/", nil)
	for _, c := range cookies {
		r.Header.Add("Cookie", c.Name+"="+c.Value)
	}
	return r
}

// load is one request's Get, as apps call it: through the request's
// sessions registry.
func load(t *testing.T, s *MongoStore, name string,
	cookies ...*http.Cookie) (*sessions.Session, error) {
	t.Helper()
	session, err := s.Get(request(cookies...), name)
	if session == nil {
		t.Fatalf("New(%q) returned a nil session (err %v)", name, err)
	}
	return session, err
}

// save saves session and returns the cookie it set, or nil.
func save(t *testing.T, s *MongoStore, session *sessions.Session) (
	*http.Cookie, error) {
	t.Helper()
	w := httptest.NewRecorder()
	err := s.Save(request(), w, session)
	cookies := w.Result().Cookies()
	switch len(cookies) {
	case 0:
		return nil, err
	case 1:
		return cookies[0], err
	}
	t.Fatalf("Save set %d cookies, want at most one", len(cookies))
	return nil, nil
}

// mustSave saves a session that must succeed and set a cookie.
func mustSave(t *testing.T, s *MongoStore,
	session *sessions.Session) *http.Cookie {
	t.Helper()
	c, err := save(t, s, session)
	if err != nil {
		t.Fatalf("Save: %v", err)
	}
	if c == nil {
		t.Fatal("Save set no cookie")
	}
	return c
}

// startSession saves a new session holding values and returns its cookie.
func startSession(t *testing.T, s *MongoStore, name string,
	values map[any]any) *http.Cookie {
	t.Helper()
	session, err := load(t, s, name)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range values {
		session.Values[k] = v
	}
	return mustSave(t, s, session)
}

func findDoc(t *testing.T, coll *mongo.Collection, id string) *document {
	t.Helper()
	var doc document
	err := coll.FindOne(context.Background(),
		bson.D{{Key: "_id", Value: id}}).Decode(&doc)
	if err == mongo.ErrNoDocuments {
		return nil
	}
	if err != nil {
		t.Fatalf("find %s: %v", id, err)
	}
	return &doc
}

func countDocs(t *testing.T, coll *mongo.Collection) int64 {
	t.Helper()
	n, err := coll.CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func idOf(t *testing.T, s *MongoStore, c *http.Cookie) string {
	t.Helper()
	session, err := load(t, s, c.Name, c)
	if err != nil || session.IsNew {
		t.Fatalf("cookie %s does not load a session (err %v)", c.Name, err)
	}
	return session.ID
}

func containsAny(haystack []string, needles ...string) bool {
	for _, h := range haystack {
		for _, n := range needles {
			if strings.EqualFold(h, n) {
				return true
			}
		}
	}
	return false
}
