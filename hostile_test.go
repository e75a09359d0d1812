package mongostore

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// signedCookie is a cookie the store would accept for id, as a client
// holding the keys could make.
func signedCookie(t *testing.T, s *MongoStore, name, id string) *http.Cookie {
	t.Helper()
	v, err := s.Codecs[0].Encode(name, []byte(id))
	if err != nil {
		t.Fatal(err)
	}
	return &http.Cookie{Name: name, Value: v}
}

func TestWrongShapedDocumentIsAnErrorAndIsKept(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll, WithExpiry(ExpiryDisabled))
	good, _ := GobSerializer{}.Serialize(map[any]any{"user": "ada"})
	foreign, _ := JSONSerializer{}.Serialize(map[any]any{"user": "ada"})
	later := time.Now().Add(time.Hour)

	cases := []struct {
		name   string
		fields bson.D
		want   string // in the error
	}{
		{"expires is a string", bson.D{{Key: "data", Value: good},
			{Key: "expires", Value: "tomorrow"}}, "expires"},
		{"no expires", bson.D{{Key: "data", Value: good}}, "expires"},
		{"no data", bson.D{{Key: "expires", Value: later}}, "data"},
		{"data is a string", bson.D{{Key: "data", Value: "ada"},
			{Key: "expires", Value: later}}, "data"},
		{"truncated data", bson.D{{Key: "data", Value: good[:len(good)-3]},
			{Key: "expires", Value: later}}, "decode"},
		{"foreign data", bson.D{{Key: "data", Value: foreign},
			{Key: "expires", Value: later}}, "decode"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := newID()
			doc := append(bson.D{{Key: "_id", Value: id}}, tc.fields...)
			if _, err := coll.InsertOne(context.Background(),
				doc); err != nil {
				t.Fatal(err)
			}
			session, err := load(t, s, "sid", signedCookie(t, s, "sid", id))
			if !errors.Is(err, ErrDecode) ||
				!strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrDecode naming %q", err, tc.want)
			}
			if !session.IsNew || session.ID != "" {
				t.Errorf("IsNew %v, ID %q; want a new session",
					session.IsNew, session.ID)
			}
			var kept bson.Raw
			if err := coll.FindOne(context.Background(),
				bson.D{{Key: "_id", Value: id}}).Decode(&kept); err != nil {
				t.Errorf("the bad document was not kept: %v", err)
			}
		})
	}
}

func TestHostileCookiesNeverReachTheDatabase(t *testing.T) {
	coll := newCollection(t)
	s := newStore(t, coll)
	cookies := map[string]*http.Cookie{
		"very long": {Name: "sid", Value: strings.Repeat("A", 64<<10)},
		"operator":  {Name: "sid", Value: `{"$gt":""}`},
		"signed operator": signedCookie(t, s, "sid",
			`{"$ne":null}`),
		"signed long ID": signedCookie(t, s, "sid",
			strings.Repeat("a", 2000)),
		"signed short ID": signedCookie(t, s, "sid", "abc"),
	}
	testCommands.reset(coll.Name())
	for name, c := range cookies {
		t.Run(name, func(t *testing.T) {
			session, _ := load(t, s, "sid", c)
			if !session.IsNew || session.ID != "" {
				t.Errorf("IsNew %v, ID %q; want a new session",
					session.IsNew, session.ID)
			}
		})
	}
	if sent := testCommands.sent(coll.Name()); len(sent) != 0 {
		t.Errorf("commands sent: %v, want none", sent)
	}
}

// TestMalformedOldBinaryIsAnErrorNotAPanic pins down a document that
// passes BSON validation but holds an old-style (subtype 2) binary whose
// inner length is wrong, on which the driver's Binary accessor panics.
func TestMalformedOldBinaryIsAnErrorNotAPanic(t *testing.T) {
	idx, doc := bsoncore.AppendDocumentStart(nil)
	doc = bsoncore.AppendDateTimeElement(doc, "expires",
		time.Now().Add(time.Hour).UnixMilli())
	// data: 5 bytes of subtype 2, claiming an inner length of 100.
	doc = append(doc, byte(bson.TypeBinary))
	doc = append(doc, "data\x00"...)
	doc = bsoncore.AppendInt32(doc, 5)
	doc = append(doc, 0x02)
	doc = bsoncore.AppendInt32(doc, 100)
	doc = append(doc, 'x')
	doc, _ = bsoncore.AppendDocumentEnd(doc, idx)
	if err := bson.Raw(doc).Validate(); err != nil {
		t.Fatalf("test setup: %v", err)
	}

	if _, err := decodeDocument(doc); !errors.Is(err, ErrDecode) {
		t.Errorf("err = %v, want ErrDecode", err)
	}
}

func TestValidIDAcceptsOnlyMintedShapes(t *testing.T) {
	for range 100 {
		if id := newID(); !validID(id) {
			t.Fatalf("minted ID %q refused", id)
		}
	}
	for _, id := range []string{"", "abc", strings.Repeat("a", 42),
		strings.Repeat("a", 44), strings.Repeat("a", 42) + "=",
		strings.Repeat("a", 42) + "+", strings.Repeat("a", 42) + "/",
		`{"$gt":""}` + strings.Repeat("a", 33)} {
		if validID(id) {
			t.Errorf("validID(%q) = true", id)
		}
	}
}
