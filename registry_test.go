package mongostore

import (
	"context"
	"errors"
	"math"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestUnchangedSaveThroughRegistryKeepsAnotherRequestsWrite pins down a
// lost update: a request that read the session and changed nothing must
// not, on saving, put back what it read over what another request wrote
// meanwhile. The registry replaces a session's store, so what was loaded
// must be kept elsewhere.
func TestUnchangedSaveThroughRegistryKeepsAnotherRequestsWrite(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	c := startSession(t, s, "sid", map[any]any{"cart": "empty"})

	reader := request(c)
	if _, err := s.Get(reader, "sid"); err != nil {
		t.Fatal(err)
	}

	writer := request(c)
	session, _ := s.Get(writer, "sid")
	session.Values["cart"] = "1 book"
	if err := sessions.Save(writer, httptest.NewRecorder()); err != nil {
		t.Fatal(err)
	}

	// A second Get in the reading request, as middleware and handler do.
	if _, err := s.Get(reader, "sid"); err != nil {
		t.Fatal(err)
	}
	if err := sessions.Save(reader, httptest.NewRecorder()); err != nil {
		t.Fatal(err)
	}
	if got, _ := load(t, s, "sid", c); got.Values["cart"] != "1 book" {
		t.Errorf("cart %v, want the other request's 1 book", got.Values)
	}
}

func TestInvalidSessionNameIsAnErrorNotANilSession(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	for _, name := range []string{"", "my session", "a;b", "é"} {
		for method, get := range map[string]func() (*sessions.Session,
			error){
			"Get": func() (*sessions.Session, error) {
				return s.Get(request(), name)
			},
			"New": func() (*sessions.Session, error) {
				return s.New(request(), name)
			},
		} {
			session, err := get()
			if session == nil || !errors.Is(err, ErrInvalidName) {
				t.Errorf("%s(%q): session %v, err %v; want a session and "+
					"ErrInvalidName", method, name, session, err)
				continue
			}
			session.Values["n"] = 1
			if _, err := save(t, s, session); !errors.Is(err,
				ErrInvalidName) {
				t.Errorf("Save(%q): err %v, want ErrInvalidName", name, err)
			}
		}
	}
	if n := countDocs(t, coll); n != 0 {
		t.Errorf("%d documents written under bad names", n)
	}
}

func TestAbsurdMaxAgeIsRefused(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	c := startSession(t, s, "sid", map[any]any{"n": 1})
	session, _ := load(t, s, "sid", c)
	session.Options.MaxAge = math.MaxInt64
	session.Values["n"] = 2
	if _, err := save(t, s, session); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("err = %v, want ErrInvalidOption", err)
	}
	if got, _ := load(t, s, "sid", c); got.Values["n"] != 1 {
		t.Errorf("stored %v, want the session untouched", got.Values)
	}
}

func TestNilStoreOptionsFallBackToDefaults(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	s.Options = nil
	c := startSession(t, s, "sid", map[any]any{"n": 1})
	if c.MaxAge != 30*86400 || !c.HttpOnly {
		t.Errorf("cookie %+v, want the defaults", c)
	}
	s.MaxAge(60)
	if s.Options == nil || s.Options.MaxAge != 60 {
		t.Errorf("MaxAge on nil Options: %+v", s.Options)
	}
}

func TestSavingTwiceSendsOneCookie(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	r := request()
	w := httptest.NewRecorder()
	session, _ := s.Get(r, "sid")
	other, _ := s.Get(r, "other")
	other.Values["x"] = 1
	for i := range 3 {
		session.Values["n"] = i
		if err := sessions.Save(r, w); err != nil {
			t.Fatal(err)
		}
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 2 || cookies[0].Name == cookies[1].Name {
		t.Errorf("cookies %v, want one per session", cookies)
	}
}

func TestMisusedConstructorArgumentsAreErrors(t *testing.T) {
	//lint:ignore SA1012 a nil context is the input under test
	var nilCtx context.Context
	cases := map[string]func() (*MongoStore, error){
		"nil context": func() (*MongoStore, error) {
			return New(nilCtx, offlineCollection(t), testKeys)
		},
		"zero collection": func() (*MongoStore, error) {
			return New(context.Background(), new(mongo.Collection),
				testKeys)
		},
		"nanosecond sweep": func() (*MongoStore, error) {
			return New(context.Background(), offlineCollection(t),
				testKeys, WithSweepInterval(time.Nanosecond))
		},
		"endless timeout": func() (*MongoStore, error) {
			return New(context.Background(), offlineCollection(t),
				testKeys, WithTimeout(math.MaxInt64))
		},
	}
	for name, build := range cases {
		if s, err := build(); s != nil || !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%s: store %v, err %v; want ErrInvalidOption",
				name, s, err)
		}
	}
}
