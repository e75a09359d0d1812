package mongostore

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

func TestNoCookieGivesNewSessionWithoutDatabaseCall(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)

	session, err := load(t, s, "sid")
	if err != nil {
		t.Fatal(err)
	}
	if !session.IsNew || session.ID != "" || len(session.Values) != 0 {
		t.Errorf("got IsNew %v, ID %q, %d values; want a new session",
			session.IsNew, session.ID, len(session.Values))
	}
	if sent := testCommands.sent(coll.Name()); len(sent) != 0 {
		t.Errorf("commands sent: %v, want none", sent)
	}
}

func TestUndecodableCookieGivesNewSessionAndError(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	good := startSession(t, s, "sid", map[any]any{"user": "ada"})
	other := startSession(t, s, "other", map[any]any{"user": "bob"})

	wrongKey, err := securecookie.EncodeMulti("sid", []byte(idOf(t, s, good)),
		securecookie.New([]byte("another-authentication-key-32by"), nil).
			SetSerializer(securecookie.NopEncoder{}))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"garbage":             "not a cookie at all",
		"empty":               "",
		"truncated":           good.Value[:len(good.Value)/2],
		"wrong key":           wrongKey,
		"other cookie's name": other.Value,
	}
	testCommands.reset(coll.Name())
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			session, err := load(t, s, "sid",
				&http.Cookie{Name: "sid", Value: value})
			assertInvalidCookie(t, session, err)
		})
	}
	if sent := testCommands.sent(coll.Name()); len(sent) != 0 {
		t.Errorf("commands sent: %v, want none", sent)
	}
}

func TestCookieOlderThanCodecMaxAgeIsRejected(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	c := startSession(t, s, "sid", map[any]any{"n": 1})

	// securecookie stamps cookies in whole seconds and rejects those more
	// than MaxAge seconds old.
	s.MaxAge(1)
	time.Sleep(2100 * time.Millisecond)
	testCommands.reset(coll.Name())

	session, err := load(t, s, "sid", c)
	assertInvalidCookie(t, session, err)
	if sent := testCommands.sent(coll.Name()); len(sent) != 0 {
		t.Errorf("commands sent: %v, want none", sent)
	}
}

func assertInvalidCookie(t *testing.T, session *sessions.Session, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalidCookie) {
		t.Errorf("err = %v, want ErrInvalidCookie", err)
	}
	var scErr securecookie.Error
	if !errors.As(err, &scErr) || !scErr.IsDecode() {
		t.Errorf("err = %v, want a securecookie decode error inside", err)
	}
	if !session.IsNew || session.ID != "" || len(session.Values) != 0 {
		t.Errorf("got IsNew %v, ID %q, values %v; want a new session",
			session.IsNew, session.ID, session.Values)
	}
}

func TestMissingOrExpiredDocumentGivesNewSessionUnderFreshID(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithExpiry(ExpiryDisabled))

	missing := startSession(t, s, "sid", map[any]any{"n": 1})
	missingID := idOf(t, s, missing)
	if _, err := coll.DeleteMany(context.Background(),
		map[string]any{}); err != nil {
		t.Fatal(err)
	}

	expired := startSession(t, s, "sid", map[any]any{"n": 2})
	expiredID := idOf(t, s, expired)
	if _, err := coll.UpdateByID(context.Background(), expiredID,
		map[string]any{"$set": map[string]any{
			"expires": time.Now().Add(-time.Second)}}); err != nil {
		t.Fatal(err)
	}

	for name, c := range map[string]*http.Cookie{
		"missing": missing, "expired": expired} {
		t.Run(name, func(t *testing.T) {
			session, err := load(t, s, "sid", c)
			if err != nil {
				t.Fatal(err)
			}
			if !session.IsNew || session.ID != "" ||
				len(session.Values) != 0 {
				t.Fatalf("got IsNew %v, ID %q, values %v; want new",
					session.IsNew, session.ID, session.Values)
			}

			session.Values["n"] = 3
			fresh := idOf(t, s, mustSave(t, s, session))
			if fresh == missingID || fresh == expiredID {
				t.Errorf("Save reused the client's ID %q", fresh)
			}
		})
	}
	if doc := findDoc(t, coll, missingID); doc != nil {
		t.Errorf("a document was written under the dropped ID %q",
			missingID)
	}
	if doc := findDoc(t, coll, expiredID); doc == nil ||
		doc.Expires.After(time.Now()) {
		t.Errorf("the expired document was revived: %+v", doc)
	}
}

func TestLiveDocumentLoadsStoredValues(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	c := startSession(t, s, "sid", map[any]any{"user": "ada", "n": 42})

	session, err := load(t, s, "sid", c)
	if err != nil {
		t.Fatal(err)
	}
	if session.IsNew {
		t.Error("IsNew is true for a stored session")
	}
	if session.Values["user"] != "ada" || session.Values["n"] != 42 {
		t.Errorf("values = %v", session.Values)
	}
}

func TestGetUsesTheRequestRegistry(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	c := startSession(t, s, "sid", map[any]any{"n": 1})
	testCommands.reset(coll.Name())

	r := request(c)
	first, err := s.Get(r, "sid")
	if err != nil {
		t.Fatal(err)
	}
	second, _ := s.Get(r, "sid")
	if first != second {
		t.Error("Get returned two sessions for one request")
	}
	if sent := testCommands.sent(coll.Name()); len(sent) != 1 {
		t.Errorf("commands sent: %v, want one find", sent)
	}
}

func TestDatabaseFailureIsAnErrorNotANewSession(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	c := startSession(t, s, "sid", map[any]any{"n": 1})

	t.Run("cancelled request", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		session, err := s.New(request(c).WithContext(ctx), "sid")
		assertFailure(t, session, err, context.Canceled)
	})

	t.Run("store timeout", func(t *testing.T) {
		short := newStore(t, coll, WithExpiry(ExpiryDisabled),
			WithTimeout(time.Nanosecond))
		session, err := load(t, short, "sid", c)
		assertFailure(t, session, err, context.DeadlineExceeded)
	})

	t.Run("server down", func(t *testing.T) {
		// Nothing listens on port 1; with expiry disabled New makes no
		// call, so the failure shows on the first load.
		client, err := mongo.Connect(options.Client().
			ApplyURI("mongodb://127.0.0.1:1/?connectTimeoutMS=200").
			SetServerSelectionTimeout(300 * time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer client.Disconnect(context.Background())
		down := newStore(t, client.Database("x").Collection(coll.Name()),
			WithExpiry(ExpiryDisabled))
		session, err := load(t, down, "sid", c)
		assertFailure(t, session, err, nil)
		var sel mongo.ServerError
		if errors.As(err, &sel) {
			t.Errorf("err = %v, a server answer; want no server", err)
		}
	})
}

func assertFailure(t *testing.T, session *sessions.Session, err error,
	cause error) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.HasPrefix(err.Error(), "mongostore: ") {
		t.Errorf("err = %q, want the package prefix", err)
	}
	if errors.Is(err, mongo.ErrNoDocuments) {
		t.Errorf("err = %v reads as not found", err)
	}
	if cause != nil && !errors.Is(err, cause) {
		t.Errorf("err = %v, want it to wrap %v", err, cause)
	}
	if !session.IsNew || len(session.Values) != 0 {
		t.Errorf("got IsNew %v, values %v; want a new session",
			session.IsNew, session.Values)
	}
}

func TestNegativeMaxAgeDeletesSessionAndCookie(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	c := startSession(t, s, "sid", map[any]any{"user": "ada"})
	id := idOf(t, s, c)

	for round := range 2 { // the second finds the document already gone
		session, _ := load(t, s, "sid", c)
		session.ID = id
		session.Options.MaxAge = -1
		cleared, err := save(t, s, session)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if cleared == nil || cleared.MaxAge >= 0 || cleared.Value != "" {
			t.Errorf("round %d: cookie %v, want one that expires now",
				round, cleared)
		}
	}
	if doc := findDoc(t, coll, id); doc != nil {
		t.Errorf("document still stored: %+v", doc)
	}
	if session, _ := load(t, s, "sid", c); !session.IsNew {
		t.Error("the deleted session still loads")
	}
}

func TestPositiveMaxAgeSetsExpiresAndCookie(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	session, _ := load(t, s, "sid")
	session.Options.MaxAge = 3600
	session.Values["n"] = 1

	before := time.Now()
	c := mustSave(t, s, session)
	doc := findDoc(t, coll, session.ID)
	if doc == nil {
		t.Fatal("no document")
	}

	want := before.Add(time.Hour)
	if d := doc.Expires.Sub(want); d < -time.Second || d > 2*time.Second {
		t.Errorf("expires = %v, want about %v", doc.Expires, want)
	}
	if c.MaxAge != 3600 {
		t.Errorf("cookie Max-Age = %d, want 3600", c.MaxAge)
	}
	// The Expires attribute is sent in whole seconds.
	if !c.Expires.Equal(doc.Expires.Truncate(time.Second)) {
		t.Errorf("cookie expires %v, document %v", c.Expires, doc.Expires)
	}
}

func TestZeroMaxAgeGivesBrowserSessionCookie(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithBrowserSessionLifetime(2*time.Hour))
	session, _ := load(t, s, "sid")
	session.Options.MaxAge = 0
	session.Values["n"] = 1

	before := time.Now()
	c := mustSave(t, s, session)
	if c.MaxAge != 0 || !c.Expires.IsZero() {
		t.Errorf("cookie Max-Age %d, Expires %v; want neither",
			c.MaxAge, c.Expires)
	}
	doc := findDoc(t, coll, session.ID)
	want := before.Add(2 * time.Hour)
	if doc == nil {
		t.Fatal("no document")
	}
	if d := doc.Expires.Sub(want); d < -time.Second || d > 2*time.Second {
		t.Errorf("expires = %v, want about %v", doc.Expires, want)
	}
}

func TestEmptyNewSessionIsNotWritten(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	session, _ := load(t, s, "sid")
	c, err := save(t, s, session)
	if err != nil {
		t.Fatal(err)
	}
	if c != nil {
		t.Errorf("cookie %v set for an empty session", c)
	}
	if sent := testCommands.sent(coll.Name()); len(sent) != 0 {
		t.Errorf("commands sent: %v, want none", sent)
	}
	if n := countDocs(t, coll); n != 0 {
		t.Errorf("%d documents, want none", n)
	}

	eager := newStore(t, coll, WithSaveEmpty(true))
	session, _ = load(t, eager, "sid")
	c = mustSave(t, eager, session)
	if n := countDocs(t, coll); n != 1 {
		t.Errorf("with WithSaveEmpty: %d documents, want 1", n)
	}
	if session, err := load(t, eager, "sid", c); err != nil ||
		session.IsNew {
		t.Errorf("the empty session does not load back (err %v)", err)
	}
}

func TestIDIsRandomAndCookieHoldsOnlyTheSignedID(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	seen := map[string]bool{}
	for range 3 {
		c := startSession(t, s, "sid", map[any]any{"secret": "swordfish"})
		id := idOf(t, s, c)
		raw, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(raw) != 32 {
			t.Errorf("ID %q: %d bytes, err %v; want 32 URL-safe bytes",
				id, len(raw), err)
		}
		if seen[id] {
			t.Errorf("ID %q minted twice", id)
		}
		seen[id] = true

		var got []byte
		if err := securecookie.DecodeMulti("sid", c.Value, &got,
			s.Codecs...); err != nil || string(got) != id {
			t.Errorf("cookie decodes to %q (err %v), want the ID", got, err)
		}
		if strings.Contains(c.Value, "swordfish") || len(c.Value) > 300 {
			t.Errorf("cookie carries more than the ID: %q", c.Value)
		}
	}
}

func TestCookieSignedWithOlderKeyLoadsAndIsResigned(t *testing.T) {
	coll := newCollection(t)
	oldKey := []byte("the-old-authentication-key-32byt")
	newKey := []byte("the-new-authentication-key-32byt")
	before, err := New(context.Background(), coll, [][]byte{oldKey},
		WithExpiry(ExpiryDisabled))
	if err != nil {
		t.Fatal(err)
	}
	c := startSession(t, before, "sid", map[any]any{"user": "ada"})

	after, err := New(context.Background(), coll,
		[][]byte{newKey, nil, oldKey, nil}, WithExpiry(ExpiryDisabled))
	if err != nil {
		t.Fatal(err)
	}
	session, err := load(t, after, "sid", c)
	if err != nil || session.Values["user"] != "ada" {
		t.Fatalf("old cookie: values %v, err %v", session.Values, err)
	}
	resigned := mustSave(t, after, session)

	codec := func(key []byte) securecookie.Codec {
		return securecookie.New(key, nil).
			SetSerializer(securecookie.NopEncoder{})
	}
	var id []byte
	if err := securecookie.DecodeMulti("sid", resigned.Value, &id,
		codec(newKey)); err != nil || string(id) != session.ID {
		t.Errorf("re-signed cookie does not decode with the new key: %v",
			err)
	}
	if err := securecookie.DecodeMulti("sid", resigned.Value, &id,
		codec(oldKey)); err == nil {
		t.Error("re-signed cookie still decodes with the old key alone")
	}
}

func TestSessionOptionsAreCopies(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	s.Options.Partitioned = true
	s.Options.SameSite = http.SameSiteStrictMode
	s.Options.Domain = "example.com"
	want := *s.Options

	a, _ := load(t, s, "a")
	b, _ := load(t, s, "b")
	if *a.Options != want {
		t.Errorf("session options %+v, want the store's %+v",
			*a.Options, want)
	}
	a.Options.Partitioned = false
	a.Options.SameSite = http.SameSiteNoneMode
	a.Options.MaxAge = 7
	a.Options.Path = "/a"
	if *s.Options != want || *b.Options != want {
		t.Errorf("changing one session's options changed the store's "+
			"(%+v) or another session's (%+v)", *s.Options, *b.Options)
	}
}

func TestSeveralSessionNamesAreIndependent(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	r := request()
	w := httptest.NewRecorder()
	for _, name := range []string{"cart", "auth"} {
		session, err := s.Get(r, name)
		if err != nil {
			t.Fatal(err)
		}
		session.Values["owner"] = name
	}
	if err := sessions.Save(r, w); err != nil {
		t.Fatal(err)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 2 {
		t.Fatalf("%d cookies, want 2", len(cookies))
	}
	if n := countDocs(t, coll); n != 2 {
		t.Errorf("%d documents, want 2", n)
	}

	next := request(cookies...)
	cart, _ := s.Get(next, "cart")
	auth, _ := s.Get(next, "auth")
	if cart.Values["owner"] != "cart" || auth.Values["owner"] != "auth" ||
		cart.ID == auth.ID {
		t.Errorf("cart %v (%s), auth %v (%s)", cart.Values, cart.ID,
			auth.Values, auth.ID)
	}
}

func TestCookieDefaults(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	c := startSession(t, s, "sid", map[any]any{"n": 1})
	if c.Path != "/" || c.MaxAge != 30*86400 || !c.HttpOnly || !c.Secure ||
		c.SameSite != http.SameSiteLaxMode {
		t.Errorf("cookie %+v, want Path /, 30 days, HttpOnly, Secure, Lax",
			c)
	}
}

func TestReadsGoToThePrimary(t *testing.T) {
	coll := newCollection(t)
	secondary := coll.Database().Client().Database(coll.Database().Name()).
		Collection(coll.Name(), options.Collection().
			SetReadPreference(readpref.SecondaryPreferred()))
	s := newStore(t, secondary)

	// A standalone server, like the one the tests may run on, is sent no
	// read preference at all, so the collection's own setting is checked.
	mode := func(c *mongo.Collection) readpref.Mode {
		rp := reflect.ValueOf(c).Elem().FieldByName("readPreference")
		return readpref.Mode(rp.Elem().FieldByName("mode").Uint())
	}
	if got := mode(secondary); got != readpref.SecondaryPreferredMode {
		t.Fatalf("test setup: caller's collection reads with %v", got)
	}
	if got := mode(s.coll); got != readpref.PrimaryMode {
		t.Errorf("store reads with %v, want primary", got)
	}
}
