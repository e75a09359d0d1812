package mongostore

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// parallel runs f n times at once and returns the errors it gave.
func parallel(n int, f func(i int) error) []error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(i)
		}()
	}
	wg.Wait()
	return errs
}

// saveFrom is one request: load the session with cookie c, change it and
// save it.
func saveFrom(s *MongoStore, c *http.Cookie, key string, value any) error {
	r := request(c)
	session, err := s.New(r, "sid")
	if err != nil {
		return err
	}
	if session.IsNew {
		return ErrSessionGone
	}
	session.Values[key] = value
	return s.Save(r, httptest.NewRecorder(), session)
}

func TestParallelFirstSavesMakeDistinctSessions(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	errs := parallel(50, func(i int) error {
		r := request()
		session, _ := s.New(r, "sid")
		session.Values["n"] = i
		return s.Save(r, httptest.NewRecorder(), session)
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := countDocs(t, coll); n != 50 {
		t.Errorf("%d documents, want 50", n)
	}
}

func TestParallelSavesOfOneSessionKeepOneDocument(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	c := startSession(t, s, "sid", map[any]any{"n": -1})

	errs := parallel(50, func(i int) error {
		return saveFrom(s, c, "n", i)
	})
	for _, err := range errs {
		if err != nil {
			t.Errorf("save: %v (duplicate key: %v)", err,
				mongo.IsDuplicateKeyError(err))
		}
	}
	if n := countDocs(t, coll); n != 1 {
		t.Errorf("%d documents, want 1", n)
	}
	session, err := load(t, s, "sid", c)
	if n, _ := session.Values["n"].(int); err != nil || n < 0 {
		t.Errorf("stored n = %v (err %v), want one of the saves", n, err)
	}
}

func TestLogoutRacingSavesStaysLoggedOut(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	for round := range 5 {
		c := startSession(t, s, "sid", map[any]any{"user": "ada"})
		id := idOf(t, s, c)

		errs := parallel(21, func(i int) error {
			if i == 10 {
				r := request(c)
				session, _ := s.New(r, "sid")
				session.Options.MaxAge = -1
				return s.Save(r, httptest.NewRecorder(), session)
			}
			return saveFrom(s, c, "n", i)
		})
		for _, err := range errs {
			if err != nil && !errors.Is(err, ErrSessionGone) {
				t.Errorf("round %d: %v", round, err)
			}
		}
		if doc := findDoc(t, coll, id); doc != nil {
			t.Fatalf("round %d: the logged-out session came back", round)
		}
	}
}

func TestSaveAfterDeleteDoesNotRecreateAndClearsCookie(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	c := startSession(t, s, "sid", map[any]any{"user": "ada"})
	session, _ := load(t, s, "sid", c)
	id := session.ID

	if _, err := coll.DeleteOne(context.Background(),
		map[string]any{"_id": id}); err != nil {
		t.Fatal(err)
	}
	session.Values["user"] = "mallory"
	cookie, err := save(t, s, session)
	if !errors.Is(err, ErrSessionGone) {
		t.Errorf("err = %v, want ErrSessionGone", err)
	}
	if cookie == nil || cookie.MaxAge >= 0 {
		t.Errorf("cookie %v, want one that clears the session", cookie)
	}
	if n := countDocs(t, coll); n != 0 {
		t.Errorf("%d documents, want none", n)
	}
}

func TestOptimisticConcurrencyRefusesStaleSaves(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithOptimisticConcurrency(true))
	c := startSession(t, s, "sid", map[any]any{"cart": 1})

	first, _ := load(t, s, "sid", c)
	second, _ := load(t, s, "sid", c)
	first.Values["cart"] = 2
	mustSave(t, s, first)

	second.Values["cart"] = 3
	cookie, err := save(t, s, second)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	if cookie != nil {
		t.Errorf("cookie %v set by a refused save", cookie)
	}
	if got, _ := load(t, s, "sid", c); got.Values["cart"] != 2 {
		t.Errorf("stored cart %v, want the first save's 2", got.Values)
	}

	// The retry the README shows: load again, redo, save.
	retry, _ := load(t, s, "sid", c)
	retry.Values["cart"] = retry.Values["cart"].(int) + 1
	mustSave(t, s, retry)
	retry.Values["cart"] = 4 // a second save of the same request
	mustSave(t, s, retry)
	if got, _ := load(t, s, "sid", c); got.Values["cart"] != 4 {
		t.Errorf("stored cart %v, want 4", got.Values)
	}

	// A stale save of a session deleted meanwhile is gone, not a
	// conflict.
	stale, _ := load(t, s, "sid", c)
	if _, err := coll.DeleteMany(context.Background(),
		map[string]any{}); err != nil {
		t.Fatal(err)
	}
	stale.Values["cart"] = 5
	if _, err := save(t, s, stale); !errors.Is(err, ErrSessionGone) {
		t.Errorf("err = %v, want ErrSessionGone", err)
	}
}

func TestLastWriteWinsByDefault(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	c := startSession(t, s, "sid", map[any]any{"cart": 1})
	first, _ := load(t, s, "sid", c)
	second, _ := load(t, s, "sid", c)
	first.Values["cart"] = 2
	mustSave(t, s, first)
	second.Values["cart"] = 3
	mustSave(t, s, second)
	if got, _ := load(t, s, "sid", c); got.Values["cart"] != 3 {
		t.Errorf("stored cart %v, want the last save's 3", got.Values)
	}
}

func TestRenewIDDefeatsSessionFixation(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	planted := startSession(t, s, "sid", map[any]any{"cart": 1})

	r := request(planted)
	session, _ := s.New(r, "sid")
	oldID := session.ID
	session.Values["user"] = "ada"
	w := httptest.NewRecorder()
	if err := s.RenewID(r, w, session); err != nil {
		t.Fatal(err)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("%d cookies, want the new one", len(cookies))
	}

	if session.ID == oldID || findDoc(t, coll, oldID) != nil {
		t.Error("the old ID survived")
	}
	if old, _ := load(t, s, "sid", planted); !old.IsNew {
		t.Error("the planted cookie still loads a session")
	}
	renewed, err := load(t, s, "sid", cookies[0])
	if err != nil || renewed.Values["user"] != "ada" ||
		renewed.Values["cart"] != 1 {
		t.Errorf("new cookie loads %v (err %v)", renewed.Values, err)
	}
}
