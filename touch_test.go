package mongostore

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

var writeCommands = []string{"insert", "update", "delete", "findAndModify"}

// writesSent returns the write commands sent on coll since the last reset.
func writesSent(coll *mongo.Collection) []string {
	var writes []string
	for _, name := range testCommands.sent(coll.Name()) {
		if slices.Contains(writeCommands, name) {
			writes = append(writes, name)
		}
	}
	return writes
}

// setFields returns the names of the fields set by each update sent on
// coll since the last reset.
func setFields(t *testing.T, coll *mongo.Collection) [][]string {
	t.Helper()
	var out [][]string
	for _, cmd := range testCommands.named(coll.Name(), "update") {
		updates, err := cmd.LookupErr("updates")
		if err != nil {
			t.Fatalf("update without updates: %s", cmd)
		}
		docs, _ := updates.Array().Values()
		for _, d := range docs {
			set, err := d.Document().LookupErr("u", "$set")
			if err != nil {
				t.Fatalf("update without $set: %s", d)
			}
			elems, _ := set.Document().Elements()
			var names []string
			for _, e := range elems {
				names = append(names, e.Key())
			}
			out = append(out, names)
		}
	}
	return out
}

// setStored overwrites fields of a stored session, as time passing would.
func setStored(t *testing.T, coll *mongo.Collection, id string,
	fields bson.D) {
	t.Helper()
	_, err := coll.UpdateByID(context.Background(), id,
		bson.D{{Key: "$set", Value: fields}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestUnchangedSessionInsideTouchIntervalIsNotWritten(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithTouchInterval(time.Hour))
	c := startSession(t, s, "sid", map[any]any{"user": "ada", "n": 1,
		"a": 2, "b": 3, "c": 4})
	id := idOf(t, s, c)
	before := findDoc(t, coll, id)
	testCommands.reset(coll.Name())

	for i := range 100 {
		session, err := load(t, s, "sid", c)
		if err != nil {
			t.Fatal(err)
		}
		cookie, err := save(t, s, session)
		if err != nil {
			t.Fatal(err)
		}
		if cookie != nil {
			t.Fatalf("save %d sent a cookie though nothing was written", i)
		}
	}
	if writes := writesSent(coll); len(writes) != 0 {
		t.Errorf("100 unchanged saves sent writes %v, want none", writes)
	}
	if after := findDoc(t, coll, id); !after.Expires.Equal(before.Expires) {
		t.Errorf("expires moved from %v to %v", before.Expires,
			after.Expires)
	}
}

func TestUnchangedSessionPastTouchIntervalMovesOnlyExpiry(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithTouchInterval(time.Hour))
	c := startSession(t, s, "sid", map[any]any{"user": "ada"})
	id := idOf(t, s, c)

	// As if the last write were two hours ago.
	stale := time.Now().Add(30*24*time.Hour - 2*time.Hour)
	setStored(t, coll, id, bson.D{{Key: "expires", Value: stale}})
	before := findDoc(t, coll, id)
	testCommands.reset(coll.Name())

	session, _ := load(t, s, "sid", c)
	cookie := mustSave(t, s, session)
	if got := setFields(t, coll); len(got) != 1 ||
		!slices.Equal(got[0], []string{"expires"}) {
		t.Errorf("updates set %v, want one setting expires alone", got)
	}
	if writes := writesSent(coll); len(writes) != 1 {
		t.Errorf("writes %v, want one update", writes)
	}

	after := findDoc(t, coll, id)
	if !bytes.Equal(after.Data, before.Data) ||
		!after.Modified.Equal(before.Modified) {
		t.Error("data or modified changed on a touch")
	}
	if !after.Expires.After(stale.Add(time.Hour)) {
		t.Errorf("expires %v did not move on from %v", after.Expires, stale)
	}
	// The browser's cookie is moved along with the document.
	if cookie.MaxAge != 30*86400 ||
		!cookie.Expires.Equal(after.Expires.Truncate(time.Second)) {
		t.Errorf("cookie Max-Age %d, Expires %v; document expires %v",
			cookie.MaxAge, cookie.Expires, after.Expires)
	}
}

func TestChangedSessionIsWrittenWhateverTheTouchInterval(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithTouchInterval(time.Hour))
	c := startSession(t, s, "sid", map[any]any{"n": 1})
	testCommands.reset(coll.Name())

	session, _ := load(t, s, "sid", c)
	session.Values["n"] = 2
	mustSave(t, s, session)
	got := setFields(t, coll)
	if len(got) != 1 || !slices.Equal(got[0],
		[]string{"data", "expires", "modified"}) {
		t.Errorf("updates set %v, want data, expires and modified", got)
	}
	if session, _ := load(t, s, "sid", c); session.Values["n"] != 2 {
		t.Errorf("stored values %v", session.Values)
	}
}

func TestDefaultTouchMovesExpiryOnEverySave(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	c := startSession(t, s, "sid", map[any]any{"n": 1})
	testCommands.reset(coll.Name())

	for range 3 {
		session, _ := load(t, s, "sid", c)
		mustSave(t, s, session)
	}
	got := setFields(t, coll)
	if len(got) != 3 {
		t.Fatalf("%d updates, want 3", len(got))
	}
	for _, fields := range got {
		if !slices.Equal(fields, []string{"expires"}) {
			t.Errorf("update set %v, want expires alone", fields)
		}
	}
}

func TestShortSessionIsTouchedBeforeItLapses(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithTouchInterval(time.Hour))
	s.Options.MaxAge = 60
	c := startSession(t, s, "sid", map[any]any{"n": 1})
	id := idOf(t, s, c)

	// Twenty seconds left of sixty: a touch interval of an hour must not
	// let the session run out while it is in use.
	setStored(t, coll, id, bson.D{{Key: "expires",
		Value: time.Now().Add(20 * time.Second)}})
	testCommands.reset(coll.Name())

	session, _ := load(t, s, "sid", c)
	mustSave(t, s, session)
	if got := setFields(t, coll); len(got) != 1 {
		t.Errorf("updates %v, want the expiry moved", got)
	}
}

func TestLoadingAddsNothingToValues(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithTouchInterval(time.Hour))
	c := startSession(t, s, "sid", map[any]any{"user": "ada"})
	session, _ := load(t, s, "sid", c)
	if len(session.Values) != 1 || session.Values["user"] != "ada" {
		t.Errorf("values %v, want only what was saved", session.Values)
	}
}

func TestGobEncodingIsDeterministic(t *testing.T) {
	values := map[any]any{}
	for i := range 50 {
		values[string(rune('a'+i%26))+string(rune('a'+i/26))] = i
	}
	values[7] = "int key"
	first, err := GobSerializer{}.Serialize(values)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, _ := GobSerializer{}.Serialize(values)
		if !bytes.Equal(first, again) {
			t.Fatal("the same values encoded to different bytes")
		}
	}
}

func TestAbsoluteTimeoutCapsAndEndsSessions(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithAbsoluteTimeout(8*time.Hour))
	c := startSession(t, s, "sid", map[any]any{"n": 1})
	id := idOf(t, s, c)

	// Created 7h59m ago: however active, one minute is left.
	setStored(t, coll, id, bson.D{{Key: "created",
		Value: time.Now().Add(-8*time.Hour + time.Minute)}})
	session, _ := load(t, s, "sid", c)
	session.Values["n"] = 2
	cookie := mustSave(t, s, session)
	doc := findDoc(t, coll, id)
	if left := time.Until(doc.Expires); left > time.Minute ||
		left < 50*time.Second {
		t.Errorf("expires in %v, want the minute left", left)
	}
	if cookie.MaxAge > 60 || cookie.MaxAge < 50 {
		t.Errorf("cookie Max-Age %d, want the minute left", cookie.MaxAge)
	}

	// Past the limit, with expires still ahead: loads as a new session.
	setStored(t, coll, id, bson.D{
		{Key: "created", Value: time.Now().Add(-9 * time.Hour)},
		{Key: "expires", Value: time.Now().Add(time.Hour)},
	})
	session, err := load(t, s, "sid", c)
	if err != nil || !session.IsNew || session.ID != "" {
		t.Errorf("over-age session: IsNew %v, ID %q, err %v; want new",
			session.IsNew, session.ID, err)
	}
}

func TestSessionIDChangedByCallerIsNotTouched(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithTouchInterval(time.Hour))
	c := startSession(t, s, "sid", map[any]any{"n": 1})
	session, _ := load(t, s, "sid", c)
	session.ID = "not-an-id-this-store-minted"

	if _, err := save(t, s, session); !errors.Is(err, ErrSessionGone) {
		t.Errorf("err = %v, want ErrSessionGone", err)
	}
	if n := countDocs(t, coll); n != 1 {
		t.Errorf("%d documents, want the original alone", n)
	}
}
