package mongostore

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

var (
	encKeyOld = bytes.Repeat([]byte{1}, 32)
	encKeyNew = bytes.Repeat([]byte{2}, 32)
)

func TestEncryptionHidesValuesAtRest(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithEncryption(encKeyOld))
	c := startSession(t, s, "sid", map[any]any{"secret": "swordfish"})
	id := idOf(t, s, c)

	var raw bson.Raw
	if err := coll.FindOne(context.Background(),
		bson.D{{Key: "_id", Value: id}}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("swordfish")) ||
		bytes.Contains(raw, []byte("secret")) {
		t.Error("the raw document holds a value in plain text")
	}
	session, err := load(t, s, "sid", c)
	if err != nil || session.Values["secret"] != "swordfish" {
		t.Errorf("values %v, err %v", session.Values, err)
	}

	// Each write gets a fresh nonce: the same values seal differently.
	first := findDoc(t, coll, id).Data
	session.Values["n"] = 1
	mustSave(t, s, session)
	delete(session.Values, "n")
	mustSave(t, s, session)
	if bytes.Equal(first, findDoc(t, coll, id).Data) {
		t.Error("two writes of the same values sealed to the same bytes")
	}
}

func TestEncryptionKeysRotate(t *testing.T) {
	coll := newCollection(t)
	old := newStore(t, coll, WithEncryption(encKeyOld))
	c := startSession(t, old, "sid", map[any]any{"user": "ada"})

	rotated := newStore(t, coll, WithEncryption(encKeyNew, encKeyOld))
	session, err := load(t, rotated, "sid", c)
	if err != nil || session.Values["user"] != "ada" {
		t.Fatalf("old session under rotated keys: %v, err %v",
			session.Values, err)
	}
	session.Values["user"] = "ada lovelace"
	mustSave(t, rotated, session)

	// Now sealed with the new key: the old key alone cannot open it.
	if _, err := load(t, old, "sid", c); !errors.Is(err, ErrDecrypt) {
		t.Errorf("old key on a re-sealed session: err %v, want ErrDecrypt",
			err)
	}
}

func TestWrongOrMissingKeyLoadsNewSessionAndOverwritesNothing(t *testing.T) {
	coll := newCollection(t)
	sealed := newStore(t, coll, WithEncryption(encKeyOld))
	plain := newStore(t, coll)
	c := startSession(t, sealed, "sid", map[any]any{"user": "ada"})
	id := idOf(t, sealed, c)
	before := findDoc(t, coll, id)

	for name, s := range map[string]*MongoStore{
		"wrong key": newStore(t, coll, WithEncryption(encKeyNew)),
		"no key":    plain,
	} {
		t.Run(name, func(t *testing.T) {
			session, err := load(t, s, "sid", c)
			if !errors.Is(err, ErrDecode) {
				t.Errorf("err = %v, want ErrDecode", err)
			}
			if !session.IsNew || session.ID != "" {
				t.Errorf("IsNew %v, ID %q; want a new session",
					session.IsNew, session.ID)
			}
			session.Values["user"] = "mallory"
			mustSave(t, s, session)
		})
	}
	after := findDoc(t, coll, id)
	if !bytes.Equal(after.Data, before.Data) {
		t.Error("the sealed session was overwritten")
	}

	// A store with a key meets a session written without one.
	pc := startSession(t, plain, "sid", map[any]any{"user": "bob"})
	if _, err := load(t, sealed, "sid", pc); !errors.Is(err, ErrDecrypt) {
		t.Errorf("plain session under a key: err %v, want ErrDecrypt", err)
	}
}

func TestSealedDataMovedToAnotherSessionDoesNotOpen(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithEncryption(encKeyOld))
	admin := startSession(t, s, "sid", map[any]any{"role": "admin"})
	guest := startSession(t, s, "sid", map[any]any{"role": "guest"})
	stolen := findDoc(t, coll, idOf(t, s, admin)).Data
	setStored(t, coll, idOf(t, s, guest), bson.D{{Key: "data",
		Value: stolen}})
	if _, err := load(t, s, "sid", guest); !errors.Is(err, ErrDecrypt) {
		t.Errorf("err = %v, want ErrDecrypt", err)
	}
}

func TestBadEncryptionKeysAndWriteConcernFailConstruction(t *testing.T) {
	_, err := New(context.Background(), offlineCollection(t), testKeys,
		WithWriteConcern(writeconcern.Unacknowledged()))
	if !errors.Is(err, ErrInvalidOption) {
		t.Errorf("unacknowledged writes: err %v, want ErrInvalidOption",
			err)
	}
	for name, keys := range map[string][][]byte{
		"none":      nil,
		"16 bytes":  {bytes.Repeat([]byte{1}, 16)},
		"duplicate": {encKeyOld, encKeyOld},
	} {
		_, err := New(context.Background(), offlineCollection(t), testKeys,
			WithEncryption(keys...))
		if !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%s: err %v, want ErrInvalidOption", name, err)
		}
	}
}

func TestLogOutEverywhere(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithOwner("uid"))
	ctx := context.Background()
	var ada []string
	for range 3 {
		c := startSession(t, s, "sid", map[any]any{"uid": 7})
		ada = append(ada, idOf(t, s, c))
	}
	bob := startSession(t, s, "sid", map[any]any{"uid": "bob"})
	anon := startSession(t, s, "sid", map[any]any{"cart": 1})

	if n, err := s.CountOwner(ctx, "7"); err != nil || n != 3 {
		t.Errorf("CountOwner(7) = %d, %v; want 3", n, err)
	}
	var listed []string
	for info, err := range s.OwnerSessions(ctx, "7") {
		if err != nil {
			t.Fatal(err)
		}
		if info.Owner != "7" || info.Values["uid"] != 7 {
			t.Errorf("listed %+v", info)
		}
		listed = append(listed, info.ID)
	}
	slices.Sort(listed)
	slices.Sort(ada)
	if !slices.Equal(listed, ada) {
		t.Errorf("OwnerSessions listed %v, want %v", listed, ada)
	}

	if n, err := s.DeleteOwner(ctx, "7"); err != nil || n != 3 {
		t.Errorf("DeleteOwner(7) = %d, %v; want 3", n, err)
	}
	for _, id := range ada {
		if findDoc(t, coll, id) != nil {
			t.Errorf("session %s survived", id)
		}
	}
	if findDoc(t, coll, idOf(t, s, bob)) == nil ||
		findDoc(t, coll, idOf(t, s, anon)) == nil {
		t.Error("another owner's or an anonymous session was deleted")
	}

	// Logging out drops the owner: the session no longer counts.
	session, _ := load(t, s, "sid", bob)
	delete(session.Values, "uid")
	mustSave(t, s, session)
	if n, _ := s.CountOwner(ctx, "bob"); n != 0 {
		t.Errorf("CountOwner(bob) after logout = %d, want 0", n)
	}
	specs, _ := coll.Indexes().ListSpecifications(ctx)
	if !slices.ContainsFunc(specs, func(spec mongo.IndexSpecification) bool {
		return spec.Name == ownerIndex
	}) {
		t.Error("no owner index")
	}
}

func TestOwnerMethodsNeedWithOwner(t *testing.T) {
	s, err := New(context.Background(), offlineCollection(t), testKeys,
		WithExpiry(ExpiryDisabled))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.CountOwner(ctx, "x"); !errors.Is(err, ErrNoOwner) {
		t.Errorf("CountOwner: %v", err)
	}
	if _, err := s.DeleteOwner(ctx, "x"); !errors.Is(err, ErrNoOwner) {
		t.Errorf("DeleteOwner: %v", err)
	}
	for _, err := range s.OwnerSessions(ctx, "x") {
		if !errors.Is(err, ErrNoOwner) {
			t.Errorf("OwnerSessions: %v", err)
		}
	}
}

func TestAdminCountDeleteSweepAndIterate(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithExpiry(ExpiryDisabled))
	ctx := context.Background()
	var ids []string
	for i := range 4 {
		c := startSession(t, s, "sid", map[any]any{"n": i})
		ids = append(ids, idOf(t, s, c))
	}
	expire(t, coll, ids[0])
	setStored(t, coll, ids[1], bson.D{{Key: "data", Value: []byte("bad")}})

	if n, err := s.Count(ctx); err != nil || n != 3 {
		t.Errorf("Count = %d, %v; want 3 (the expired one not counted)",
			n, err)
	}

	seen := map[string]bool{}
	for info, err := range s.Sessions(ctx) {
		seen[info.ID] = true
		switch info.ID {
		case ids[1]:
			if !errors.Is(err, ErrDecode) {
				t.Errorf("bad session: err %v, want ErrDecode", err)
			}
		default:
			if err != nil || info.Values["n"] == nil ||
				info.Expires.Before(time.Now()) {
				t.Errorf("session %+v, err %v", info, err)
			}
		}
	}
	if len(seen) != 3 || seen[ids[0]] {
		t.Errorf("iterated %v, want the three live sessions", seen)
	}

	if err := s.Delete(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, ids[2]); err != nil {
		t.Errorf("deleting again: %v", err)
	}
	if n, err := s.Sweep(ctx); err != nil || n != 1 {
		t.Errorf("Sweep = %d, %v; want the one expired", n, err)
	}
	if n := countDocs(t, coll); n != 2 {
		t.Errorf("%d documents left, want 2", n)
	}
}

func TestWriteConcernOption(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithWriteConcern(writeconcern.Majority()))
	c := startSession(t, s, "sid", map[any]any{"n": 1})
	inserts := testCommands.named(coll.Name(), "insert")
	if len(inserts) != 1 {
		t.Fatalf("%d inserts", len(inserts))
	}
	w, err := inserts[0].LookupErr("writeConcern", "w")
	if err != nil || w.StringValue() != "majority" {
		t.Errorf("insert sent writeConcern %v, want majority", w)
	}
	if session, err := load(t, s, "sid", c); err != nil || session.IsNew {
		t.Errorf("load: %v", err)
	}
}

func TestDocumentSerializerKeepsReadableQueryableValues(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithSerializer(DocumentSerializer{}))
	at := time.Date(2026, 12, 3, 9, 30, 0, 123456789, time.UTC)
	values := map[any]any{"user": "ada", "visits": 12, "id": int64(7),
		"ratio": 0.5, "seen": at, "prefs": map[string]any{"theme": "dark"},
		"_flash": []any{"saved"}}
	c := startSession(t, s, "sid", values)

	// What mongosh users would run.
	n, err := coll.CountDocuments(context.Background(),
		bson.D{{Key: "data.v.user", Value: "ada"}})
	if err != nil || n != 1 {
		t.Errorf("query on data.v.user found %d (err %v), want 1", n, err)
	}

	session, err := load(t, s, "sid", c)
	if err != nil {
		t.Fatal(err)
	}
	got := copyValues(session.Values)
	if seen, ok := got["seen"].(time.Time); !ok || !seen.Equal(at) {
		t.Errorf("seen = %#v, want %v", got["seen"], at)
	}
	delete(got, "seen")
	delete(values, "seen")
	if !reflect.DeepEqual(got, values) {
		t.Errorf("values %#v, want %#v", got, values)
	}

	// Unchanged values encode alike, so the touch logic works too.
	testCommands.reset(coll.Name())
	mustSave(t, s, session)
	if fields := setFields(t, coll); len(fields) != 1 ||
		!slices.Equal(fields[0], []string{"expires"}) {
		t.Errorf("unchanged save set %v, want expires alone", fields)
	}
}

func TestDocumentSerializerWithEncryptionStoresBinary(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithSerializer(DocumentSerializer{}),
		WithEncryption(encKeyOld))
	c := startSession(t, s, "sid", map[any]any{"user": "ada"})
	var raw bson.Raw
	if err := coll.FindOne(context.Background(),
		bson.D{}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	if typ := raw.Lookup("data").Type; typ != bson.TypeBinary {
		t.Errorf("data is BSON type %v, want sealed binary", typ)
	}
	if session, err := load(t, s, "sid", c); err != nil ||
		session.Values["user"] != "ada" {
		t.Errorf("values %v, err %v", session.Values, err)
	}
}
