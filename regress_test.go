package mongostore

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// These tests pin down what a second trial by a new user found.

func init() {
	gob.Register(map[string]any{})
}

// TestUnchangedNestedMapIsNotWrittenBack: gob writes maps in random order,
// so equal values can encode differently; a request that changed nothing
// must still not write back what it read over another request's change.
func TestUnchangedNestedMapIsNotWrittenBack(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	prefs := map[string]any{}
	for i := range 8 {
		prefs[fmt.Sprint("k", i)] = i
	}
	c := startSession(t, s, "sid", map[any]any{"prefs": prefs,
		"cart": "empty"})

	for round := range 10 {
		reader := request(c)
		if _, err := s.Get(reader, "sid"); err != nil {
			t.Fatal(err)
		}
		writer := request(c)
		session, _ := s.Get(writer, "sid")
		session.Values["cart"] = round
		if err := sessions.Save(writer, httptest.NewRecorder()); err != nil {
			t.Fatal(err)
		}
		if err := sessions.Save(reader, httptest.NewRecorder()); err != nil {
			t.Fatal(err)
		}
		if got, _ := load(t, s, "sid", c); got.Values["cart"] != round {
			t.Fatalf("round %d: cart %v, the unchanged request undid "+
				"the change", round, got.Values["cart"])
		}
	}
}

func TestJSONIntegerOwnerSurvivesReload(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithOwner("uid"),
		WithSerializer(JSONSerializer{}))
	c := startSession(t, s, "sid", map[any]any{"uid": 42})
	session, _ := load(t, s, "sid", c) // uid is a float64 now
	session.Values["cart"] = 1
	mustSave(t, s, session)
	if n, err := s.CountOwner(context.Background(), "42"); err != nil ||
		n != 1 {
		t.Errorf("CountOwner(42) = %d, %v; want 1", n, err)
	}
}

func TestOwnerRecordedForSessionsStartedBeforeWithOwner(t *testing.T) {
	coll := newCollection(t)
	before := newStore(t, coll)
	c := startSession(t, before, "sid", map[any]any{"uid": "ada"})

	after := newStore(t, coll, WithOwner("uid"),
		WithTouchInterval(time.Hour))
	session, _ := load(t, after, "sid", c)
	mustSave(t, after, session) // unchanged
	if n, _ := after.CountOwner(context.Background(), "ada"); n != 1 {
		t.Errorf("CountOwner(ada) = %d, want 1", n)
	}
}

func TestUnchangedSessionUnderOldKeysIsRewritten(t *testing.T) {
	coll := newCollection(t)
	oldCookieKey := []byte("the-old-authentication-key-32byt")
	newCookieKey := []byte("the-new-authentication-key-32byt")
	old, err := New(context.Background(), coll, [][]byte{oldCookieKey},
		WithEncryption(encKeyOld), WithExpiry(ExpiryDisabled))
	if err != nil {
		t.Fatal(err)
	}
	c := startSession(t, old, "sid", map[any]any{"user": "ada"})

	rotated, err := New(context.Background(), coll,
		[][]byte{newCookieKey, nil, oldCookieKey, nil},
		WithEncryption(encKeyNew, encKeyOld), WithExpiry(ExpiryDisabled),
		WithTouchInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	session, _ := load(t, rotated, "sid", c)
	cookie := mustSave(t, rotated, session) // unchanged

	var id []byte
	codec := securecookie.New(newCookieKey, nil).
		SetSerializer(securecookie.NopEncoder{})
	if err := codec.Decode("sid", cookie.Value, &id); err != nil {
		t.Errorf("cookie not re-signed with the new key: %v", err)
	}
	if _, err := load(t, old, "sid", c); !errors.Is(err, ErrDecrypt) {
		t.Errorf("data still opens with the old key alone (err %v)", err)
	}
	if got, err := load(t, rotated, "sid", cookie); err != nil ||
		got.Values["user"] != "ada" {
		t.Errorf("rotated session: %v, err %v", got.Values, err)
	}
}

func TestOptimisticTouchOfUnchangedSessionIsNoConflict(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithOptimisticConcurrency(true))
	c := startSession(t, s, "sid", map[any]any{"cart": 1})
	reader, _ := load(t, s, "sid", c)
	writer, _ := load(t, s, "sid", c)
	writer.Values["cart"] = 2
	mustSave(t, s, writer)
	if _, err := save(t, s, reader); err != nil {
		t.Errorf("touch of an unchanged session: %v", err)
	}
	if got, _ := load(t, s, "sid", c); got.Values["cart"] != 2 {
		t.Errorf("cart %v, want the writer's 2", got.Values["cart"])
	}
}

func TestSaveAfterRenewIDWritesNothingMore(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithTouchInterval(time.Minute))
	c := startSession(t, s, "sid", map[any]any{"cart": 1})
	r := request(c)
	session, _ := s.Get(r, "sid")
	session.Values["user"] = "ada"
	w := httptest.NewRecorder()
	if err := s.RenewID(r, w, session); err != nil {
		t.Fatal(err)
	}
	testCommands.reset(coll.Name())
	if err := sessions.Save(r, w); err != nil {
		t.Fatal(err)
	}
	if writes := writesSent(coll); len(writes) != 0 {
		t.Errorf("writes after RenewID: %v, want none", writes)
	}
}

func TestCancelledIterationStops(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	for i := range 5 {
		startSession(t, s, "sid", map[any]any{"n": i})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := 0
	var last error
	for _, err := range s.Sessions(ctx) {
		if err != nil {
			last = err
			break
		}
		seen++
		cancel()
	}
	if seen != 1 || !errors.Is(last, context.Canceled) {
		t.Errorf("saw %d sessions then %v; want 1 then context.Canceled",
			seen, last)
	}
}

func TestDamagedTimestampsAreDecodeErrors(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithExpiry(ExpiryDisabled))
	data, _ := GobSerializer{}.Serialize(map[any]any{"n": 1})
	later := time.Now().Add(time.Hour)
	for name, fields := range map[string]bson.D{
		"expires null":   {{Key: "expires", Value: nil}},
		"expires string": {{Key: "expires", Value: later.String()}},
		"expires number": {{Key: "expires", Value: later.UnixMilli()}},
		"created string": {{Key: "expires", Value: later},
			{Key: "created", Value: "yesterday"}},
	} {
		t.Run(name, func(t *testing.T) {
			id := newID()
			doc := append(bson.D{{Key: "_id", Value: id},
				{Key: "data", Value: data}}, fields...)
			if _, err := coll.InsertOne(context.Background(),
				doc); err != nil {
				t.Fatal(err)
			}
			_, err := load(t, s, "sid", signedCookie(t, s, "sid", id))
			if !errors.Is(err, ErrDecode) {
				t.Errorf("err = %v, want ErrDecode", err)
			}
		})
	}
}

// TestInPlaceChangeOfNestedValueIsWritten: unchanged plain values skip
// encoding, but a slice or map may have been changed in place, behind a
// shallow copy's back.
func TestInPlaceChangeOfNestedValueIsWritten(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithTouchInterval(time.Hour))
	c := startSession(t, s, "sid", map[any]any{"user": "ada",
		"list": []any{"a"}, "prefs": map[string]any{"theme": "dark"}})

	session, _ := load(t, s, "sid", c)
	session.Values["list"].([]any)[0] = "b"
	mustSave(t, s, session)
	session, _ = load(t, s, "sid", c)
	session.Values["prefs"].(map[string]any)["theme"] = "light"
	mustSave(t, s, session)

	got, _ := load(t, s, "sid", c)
	if got.Values["list"].([]any)[0] != "b" ||
		got.Values["prefs"].(map[string]any)["theme"] != "light" {
		t.Errorf("in-place changes lost: %v", got.Values)
	}
}

func TestComparePlain(t *testing.T) {
	list := []any{"a"}
	cases := []struct {
		name         string
		was, values  map[any]any
		same, differ bool
	}{
		{"equal plain", map[any]any{"a": 1, "b": "x"},
			map[any]any{"a": 1, "b": "x"}, true, false},
		{"plain changed", map[any]any{"a": 1}, map[any]any{"a": 2},
			false, true},
		{"type changed", map[any]any{"a": 1}, map[any]any{"a": int64(1)},
			false, true},
		{"key added", map[any]any{"a": 1}, map[any]any{"a": 1, "b": 1},
			false, true},
		{"key swapped", map[any]any{"a": 1}, map[any]any{"b": 1},
			false, true},
		{"slice kept", map[any]any{"a": list}, map[any]any{"a": list},
			false, false},
		{"plain to slice", map[any]any{"a": 1}, map[any]any{"a": list},
			false, false},
	}
	for _, tc := range cases {
		same, differ := comparePlain(tc.was, tc.values)
		if same != tc.same || differ != tc.differ {
			t.Errorf("%s: same %v, differ %v; want %v, %v", tc.name, same,
				differ, tc.same, tc.differ)
		}
	}
}

// TestOwnerFieldLeftFromBeforeDoesNotForceWrites: a store without
// WithOwner meeting documents that have an owner still skips unchanged
// writes.
func TestOwnerFieldLeftFromBeforeDoesNotForceWrites(t *testing.T) {
	coll := newCollection(t)
	owned := newStore(t, coll, WithOwner("uid"))
	c := startSession(t, owned, "sid", map[any]any{"uid": "ada"})

	plainStore := newStore(t, coll, WithTouchInterval(time.Hour))
	session, _ := load(t, plainStore, "sid", c)
	if _, err := save(t, plainStore, session); err != nil {
		t.Fatal(err)
	}
	if writes := writesSent(coll); len(writes) != 0 {
		t.Errorf("unchanged save wrote %v", writes)
	}
}
